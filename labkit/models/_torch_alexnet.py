"""AlexNet, shrunk to 28 × 28 inputs: five 3×3 convolutions, three overlapping pools, two wide dense layers."""

from __future__ import annotations

import torch
from torch import nn

from labkit.models._torch_layers import check_num_classes, initialise, scaled


class AlexNet(nn.Module):
    """conv 16 → pool → conv 48 → pool → conv 96 → 64 → 64 → pool → 3×3 average → dense 1024 → 1024.

    Pools are 3×3 with stride 2 (AlexNet's overlapping pooling). ``width``
    scales every channel and unit count; 1.0 is the source's size (1.8 M
    parameters at 62 classes, most of them in the dense layers).
    """

    def __init__(self, num_classes: int = 62, width: float = 1.0):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        c1, c2, c3, c4 = (scaled(c, width) for c in (16, 48, 96, 64))
        hidden = scaled(1024, width)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(c1, c2, 3, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(c4, c4, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((3, 3))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(c4 * 9, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )
        initialise(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))
