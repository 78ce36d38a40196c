"""EnsNet (Hirata & Takahashi, 2020): one CNN whose last feature maps feed an ensemble of classifiers.

The last convolution's channels are divided into ten equal groups; each group
has its own small classifier (a "subnetwork"), and a major classifier reads
every channel. Their predictions are combined with learnt weights, so the
network is an ensemble that costs little more than one model.

The lab's source gave its major classifier only the first group and let the
group slices run past the end of the features; here each group is exactly one
tenth of the channels, and the major classifier sees them all.
"""

from __future__ import annotations

import torch
from torch import nn

from labkit.models._torch_layers import check_num_classes, initialise, scaled

SOURCE_CHANNELS = (64, 128, 256, 512, 1024, 2000)
"""The six convolutions' filters at ``width=1.0``."""
SUBNETWORKS = 10


class EnsNet(nn.Module):
    """Six 3×3 conv layers with batch norm and dropout (64 … 2000 filters), 3×3 average, 1 + 10 classifiers.

    The last layer's filters are rounded to a multiple of ten. ``width`` scales
    every filter count; 1.0 is the source's size (27 M parameters: a GPU
    model), 0.125 a CPU one.
    """

    def __init__(self, num_classes: int = 62, width: float = 1.0, dropout: float = 0.35):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        *early, last = SOURCE_CHANNELS
        channels = [scaled(c, width) for c in early] + [scaled(last, width, multiple=SUBNETWORKS)]
        paddings = (1, 0, 1, 1, 0, 1)  # two unpadded convolutions shrink 28 → 26 and 13 → 11
        pool_after = (2, 5)
        layers: list[nn.Module] = []
        previous = 1
        for index, (filters, padding) in enumerate(zip(channels, paddings)):
            layers += [nn.Conv2d(previous, filters, 3, padding=padding), nn.BatchNorm2d(filters), nn.ReLU(inplace=True)]
            if index in pool_after:
                layers.append(nn.MaxPool2d(2))
            layers.append(nn.Dropout(dropout))
            previous = filters
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((3, 3))
        self.group = previous // SUBNETWORKS
        self.major = nn.Linear(previous * 9, num_classes)
        self.subnetworks = nn.ModuleList(nn.Linear(self.group * 9, num_classes) for _ in range(SUBNETWORKS))
        self.weights = nn.Parameter(torch.full((SUBNETWORKS + 1,), 1.0 / (SUBNETWORKS + 1)))
        initialise(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.avgpool(self.features(x))  # (batch, channels, 3, 3)
        groups = features.split(self.group, dim=1)
        votes = [self.major(torch.flatten(features, 1))]
        votes += [classifier(torch.flatten(group, 1)) for classifier, group in zip(self.subnetworks, groups)]
        return torch.einsum("bkc,k->bc", torch.stack(votes, dim=1), self.weights)
