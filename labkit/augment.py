"""Random affine augmentation of whole batches of image tensors, on the device they are on.

The lab's source augmented one image at a time through PIL (torchvision's
``RandomAffine`` on a ``Dataset``), on the CPU, in Python: on a GPU the
accelerator waits for the CPU. Here one affine matrix per image is built with
tensor arithmetic, and the whole batch is resampled at once by
``torch.nn.functional.affine_grid`` and ``grid_sample`` — on the GPU when the
batch is there.

Geometry, in pixels, about the image centre (x to the right, y downwards)::

    output point = zoom · R(angle) · S(shear) · input point + (shift_x, shift_y)

* ``angle`` in degrees, positive = counter-clockwise on screen (as torchvision);
* ``shear`` in degrees along x: a point moves right by ``tan(shear) · y``;
* ``zoom`` > 1 enlarges the content;
* ``shift_x``, ``shift_y`` in pixels (right, down).

Where an output pixel comes from outside the image, it gets ``fill`` (the
background: 0 for raw [0, 1] pixels, ``-mean/std`` after normalisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: importing labkit.augment must not import torch
    import torch


@dataclass(frozen=True)
class AffineParameters:
    """One transform per image: each field is a float tensor of shape (batch,)."""

    angle: "torch.Tensor"
    shift_x: "torch.Tensor"
    shift_y: "torch.Tensor"
    zoom: "torch.Tensor"
    shear: "torch.Tensor"


def affine(images, parameters: AffineParameters, *, fill: float = 0.0, mode: str = "bilinear"):
    """Transform each image of ``images`` (B, C, H, W) by its own parameters; same shape, dtype, device."""
    from torch.nn import functional as F

    _check_images(images)
    height, width = images.shape[-2:]
    theta = sampling_matrices(parameters, height, width).to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    if fill:
        return F.grid_sample(images - fill, grid, mode=mode, padding_mode="zeros", align_corners=False) + fill
    return F.grid_sample(images, grid, mode=mode, padding_mode="zeros", align_corners=False)


def sampling_matrices(parameters: AffineParameters, height: int, width: int):
    """The (B, 2, 3) matrices ``affine_grid`` wants: for each output point, where to read the input.

    ``affine_grid`` maps output to input in normalised coordinates ([-1, 1]
    across the image, ``align_corners=False``), so the forward transform is
    built in pixels, inverted, and rescaled: x_norm = x_pixels · 2 / width.
    """
    import torch

    p = parameters
    angle, shear = torch.deg2rad(p.angle.double()), torch.deg2rad(p.shear.double())
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    zoom = p.zoom.double()
    # forward = zoom · R · S with R = [[cos, sin], [-sin, cos]] (counter-clockwise with y down)
    # and S = [[1, tan], [0, 1]].
    forward = torch.stack([
        torch.stack([cos, cos * tan + sin], dim=-1),
        torch.stack([-sin, -sin * tan + cos], dim=-1),
    ], dim=-2) * zoom[:, None, None]
    inverse = torch.linalg.inv(forward)
    shift = torch.stack([p.shift_x.double(), p.shift_y.double()], dim=-1)
    pixels_to_normal = torch.tensor([2.0 / width, 2.0 / height], dtype=torch.float64, device=angle.device)
    # In normalised units: A_n = N A N^-1 and t_n = N t, where N = diag(2/width, 2/height).
    inverse_normal = inverse * pixels_to_normal[None, :, None] / pixels_to_normal[None, None, :]
    offset = -(inverse_normal @ (shift * pixels_to_normal)[..., None])
    return torch.cat([inverse_normal, offset], dim=-1).float()


def random_parameters(batch: int, *, degrees: float = 15.0, translate: tuple[float, float] = (0.1, 0.1),
                      scale: tuple[float, float] = (0.9, 1.1), shear: float = 3.0, size: tuple[int, int] = (28, 28),
                      generator=None) -> AffineParameters:
    """Parameters drawn uniformly: angle in ±degrees, shift in ±translate × size, zoom in scale, shear in ±shear.

    The ranges mean what torchvision's ``RandomAffine`` means by them. Drawn
    on the CPU from ``generator`` (or PyTorch's global one), so a seeded
    generator repeats the same transforms on any device.
    """
    import torch

    _check_ranges(degrees, translate, scale, shear)
    height, width = size

    def uniform(low: float, high: float):
        return low + (high - low) * torch.rand(batch, generator=generator, dtype=torch.float64)

    return AffineParameters(
        angle=uniform(-degrees, degrees),
        shift_x=uniform(-translate[0] * width, translate[0] * width),
        shift_y=uniform(-translate[1] * height, translate[1] * height),
        zoom=uniform(*scale),
        shear=uniform(-shear, shear),
    )


class RandomAffine:
    """A batch augmenter: ``augment(images)`` gives each image of the batch its own random transform.

    Defaults are the lab source's (rotation ±15°, shift ±10%, zoom 0.9–1.1,
    shear ±3°). Pass it as ``augment=`` to :func:`labkit.models.train_epoch`,
    which applies it to each batch on the training device.

    >>> augment = RandomAffine(fill=-0.1736 / 0.3317, seed=0)   # normalised EMNIST background
    """

    def __init__(self, *, degrees: float = 15.0, translate: tuple[float, float] = (0.1, 0.1),
                 scale: tuple[float, float] = (0.9, 1.1), shear: float = 3.0, fill: float = 0.0,
                 seed: int | None = None):
        import torch

        _check_ranges(degrees, translate, scale, shear)
        self.degrees, self.translate, self.scale, self.shear, self.fill = degrees, translate, scale, shear, fill
        self.generator = None if seed is None else torch.Generator().manual_seed(seed)

    def __call__(self, images):
        _check_images(images)
        parameters = random_parameters(
            len(images), degrees=self.degrees, translate=self.translate, scale=self.scale,
            shear=self.shear, size=tuple(images.shape[-2:]), generator=self.generator,
        )
        return affine(images, parameters, fill=self.fill)

    def __repr__(self) -> str:
        return (f"RandomAffine(degrees={self.degrees}, translate={self.translate}, scale={self.scale}, "
                f"shear={self.shear}, fill={self.fill})")


def _check_images(images) -> None:
    import torch

    if not isinstance(images, torch.Tensor) or images.ndim != 4 or not images.is_floating_point():
        got = f"{type(images).__name__} of shape {tuple(getattr(images, 'shape', ()))}"
        raise ValueError(f"expected a float tensor of images (batch, channels, height, width), got a {got}; "
                         "augment batches after converting them to float tensors.")


def _check_ranges(degrees, translate, scale, shear) -> None:
    problems = []
    if not 0 <= degrees <= 180:
        problems.append(f"degrees={degrees} must be in [0, 180]")
    if len(translate) != 2 or not all(0 <= t <= 1 for t in translate):
        problems.append(f"translate={translate} must be two fractions of the image size in [0, 1]")
    if len(scale) != 2 or not 0 < scale[0] <= scale[1]:
        problems.append(f"scale={scale} must be (low, high) with 0 < low <= high")
    if not 0 <= shear < 90:
        problems.append(f"shear={shear} must be in [0, 90) degrees")
    if problems:
        raise ValueError("; ".join(problems) + ".")
