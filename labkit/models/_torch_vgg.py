"""A VGG for 28 × 28 images: stacks of 3×3 convolutions, each block halving the image."""

from __future__ import annotations

import torch
from torch import nn

from labkit.models._torch_layers import check_num_classes, initialise, scaled

SOURCE_CHANNELS = (16, 32, 64, 64, 128, 128, 128, 128)
"""The eight convolutions' filters at ``width=1.0``; a 2×2 pool follows the 2nd and the 6th."""
_POOL_AFTER = (1, 5)


class VGG(nn.Module):
    """Eight 3×3 convolutions (16, 32 | 64, 64, 128, 128 | 128, 128), then dense 512 → 512 → classes.

    ``batch_norm=True`` puts a batch-norm layer after every convolution
    (VGG-BN), which makes the network train in far fewer epochs; the source
    has none, and it is off by default. ``width`` scales every channel and unit
    count; 1.0 is the source's size (1.46 M parameters at 62 classes, without batch norm).
    """

    def __init__(self, num_classes: int = 62, width: float = 1.0, batch_norm: bool = False):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        channels = [scaled(c, width) for c in SOURCE_CHANNELS]
        hidden = scaled(512, width)
        layers: list[nn.Module] = []
        previous = 1
        for index, filters in enumerate(channels):
            layers.append(nn.Conv2d(previous, filters, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(filters))
            layers.append(nn.ReLU(inplace=True))
            if index in _POOL_AFTER:
                layers.append(nn.MaxPool2d(2))
            previous = filters
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((3, 3))
        self.classifier = nn.Sequential(
            nn.Linear(previous * 9, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Dropout(0.5),
            nn.Linear(hidden, num_classes),
        )
        initialise(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
