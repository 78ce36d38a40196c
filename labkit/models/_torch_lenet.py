"""LeNet-5, modernised: ReLU and max pooling, batch norm and dropout in the classifier."""

from __future__ import annotations

import torch
from torch import nn

from labkit.models._torch_layers import check_num_classes, initialise, scaled


class LeNet(nn.Module):
    """conv 5×5 (6) → pool → conv 5×5 (16) → pool → 3×3 average → dense 120 → 84 → classes.

    ``width`` scales every channel and unit count (1.0: 6/16 filters, 120/84
    units, 35,814 parameters at 62 classes: small enough for any CPU).
    """

    def __init__(self, num_classes: int = 62, width: float = 1.0):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        c1, c2 = scaled(6, width), scaled(16, width)
        h1, h2 = scaled(120, width), scaled(84, width)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((3, 3))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(c2 * 9, h1), nn.BatchNorm1d(h1), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(h1, h2), nn.BatchNorm1d(h2), nn.ReLU(inplace=True),
            nn.Linear(h2, num_classes),
        )
        initialise(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
