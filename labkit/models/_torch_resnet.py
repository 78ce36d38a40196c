"""A ResNet-18-style network for 28 × 28 images: four stages of two residual blocks."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from labkit.models._torch_layers import check_num_classes, initialise, scaled

SOURCE_STAGES = (16, 32, 64, 128)
"""Channels of the four stages at ``width=1.0``; every stage after the first halves the image."""


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with batch norm, added to a shortcut of the input.

    The shortcut is the input itself, or a 1×1 convolution (with batch norm)
    where the block changes the number of channels or the image size.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet(nn.Module):
    """conv 3×3 → pool → 4 stages × 2 blocks (16, 32, 64, 128 channels) → global average → classes.

    ``width`` scales every channel count; 1.0 is the source's size (about
    0.7 M parameters at 62 classes).
    """

    def __init__(self, num_classes: int = 62, width: float = 1.0, blocks_per_stage: int = 2):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        stages = [scaled(c, width) for c in SOURCE_STAGES]
        layers: list[nn.Module] = [
            nn.Conv2d(1, stages[0], 3, padding=1, bias=False), nn.BatchNorm2d(stages[0]),
            nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1),
        ]
        previous = stages[0]
        for index, channels in enumerate(stages):
            for block in range(blocks_per_stage):
                stride = 2 if index > 0 and block == 0 else 1
                layers.append(BasicBlock(previous, channels, stride))
                previous = channels
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(1), nn.Linear(previous, num_classes)]
        self.model = nn.Sequential(*layers)
        initialise(self, linear="kaiming")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
