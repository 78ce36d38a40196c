"""SpinalNet (Kabir et al., 2020): a classifier that reads its input in halves, a little at a time.

A spinal head splits the features into two halves. Each of its layers sees one
half plus the previous layer's output, alternating halves, the way a spinal
cord takes in nerves segment by segment; the classifier reads every layer's
output. It does with few units what a wide dense layer does with many.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from labkit.models._torch_layers import check_num_classes, initialise, scaled


class SpinalHead(nn.Module):
    """``layers`` spinal layers of ``units`` each over ``in_features`` features, then the classifier.

    Layer 1 reads the first half; layer *i* > 1 reads the first half (odd *i*)
    or the second half (even *i*) together with layer *i*−1's output. Each
    layer is Linear → ReLU → dropout; the classifier is one Linear over all the
    layers' outputs side by side.
    """

    def __init__(self, in_features: int, units: int, num_classes: int, layers: int = 4, dropout: float = 0.5):
        super().__init__()
        if in_features < 2 or in_features % 2:
            raise ValueError(f"in_features={in_features} must be even: the head reads its input in two halves.")
        self.half = in_features // 2
        self.dropout = dropout
        self.spinal = nn.ModuleList(
            nn.Linear(self.half + (units if i else 0), units) for i in range(layers)
        )
        self.classifier = nn.Linear(units * layers, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        halves = (x[:, : self.half], x[:, self.half :])
        outputs: list[torch.Tensor] = []
        for index, layer in enumerate(self.spinal):
            inputs = halves[index % 2] if not outputs else torch.cat([halves[index % 2], outputs[-1]], dim=1)
            outputs.append(F.dropout(F.relu(layer(inputs)), self.dropout, training=self.training))
        return self.classifier(torch.cat(outputs, dim=1))


class SpinalNet(nn.Module):
    """Two conv 5×5 blocks with batch norm (32, 64 filters, 7×7 left), then a spinal head of 4 × 50 units.

    ``width`` scales the filters and the spinal units; 1.0 is the source's
    size (0.39 M parameters at 62 classes).
    """

    def __init__(self, num_classes: int = 62, width: float = 1.0):
        super().__init__()
        num_classes = check_num_classes(num_classes)
        c1, c2 = scaled(32, width), scaled(64, width)
        units = scaled(50, width)
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2), nn.BatchNorm2d(c1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.BatchNorm2d(c2), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.head = SpinalHead(c2 * 7 * 7, units, num_classes)  # c2 * 49 is even whenever c2 is
        initialise(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))
