"""What every architecture of :mod:`labkit.models` shares: channel scaling and the source's initialisation."""

from __future__ import annotations

from torch import nn


def scaled(channels: int, width: float, multiple: int = 1) -> int:
    """``channels`` times ``width``, rounded to a multiple of ``multiple`` and at least one multiple.

    ``width=1.0`` gives the source's size back unchanged.
    """
    if not width > 0:
        raise ValueError(f"width={width!r} must be a positive number (1.0 is the source's size).")
    return max(multiple, round(channels * width / multiple) * multiple)


def check_num_classes(num_classes: int) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes={num_classes!r} must be an integer of at least 2.")
    return num_classes


def initialise(model: nn.Module, *, linear: str = "normal") -> None:
    """The source's initialisation: He (fan-out) for convolutions, N(0, 0.01) for dense layers.

    ``linear="kaiming"`` gives dense layers He initialisation too, as the source's ResNet does.
    Batch-norm layers start as the identity and every bias at zero.
    """
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.ones_(module.weight)
        elif isinstance(module, nn.Linear):
            if linear == "kaiming":
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.normal_(module.weight, 0.0, 0.01)
        else:
            continue
        if module.bias is not None:
            nn.init.zeros_(module.bias)
