"""labkit.augment: a real affine transform, applied to whole batches, repeatable with a generator."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from labkit.augment import AffineParameters, RandomAffine, affine, random_parameters  # noqa: E402

SIZE = 28


def one_transform(angle=0.0, shift_x=0.0, shift_y=0.0, zoom=1.0, shear=0.0, batch=1) -> AffineParameters:
    def column(value):
        return torch.full((batch,), float(value), dtype=torch.float64)

    return AffineParameters(column(angle), column(shift_x), column(shift_y), column(zoom), column(shear))


def bright_pixel(row: int, col: int) -> torch.Tensor:
    image = torch.zeros(1, 1, SIZE, SIZE)
    image[0, 0, row, col] = 1.0
    return image


def centroid(image: torch.Tensor) -> tuple[float, float]:
    """(row, col) of the image's centre of mass."""
    weights = image[0, 0].double()
    rows, cols = torch.meshgrid(torch.arange(SIZE, dtype=torch.float64), torch.arange(SIZE, dtype=torch.float64),
                                indexing="ij")
    total = weights.sum()
    return float((weights * rows).sum() / total), float((weights * cols).sum() / total)


def where_it_lands(row: float, col: float, *, angle=0.0, zoom=1.0, shear=0.0, shift_x=0.0, shift_y=0.0):
    """The module's geometry written out by hand, about the image centre (13.5, 13.5), y downwards."""
    centre = (SIZE - 1) / 2
    x, y = col - centre, row - centre
    x = x + math.tan(math.radians(shear)) * y  # shear along x
    a = math.radians(angle)
    x, y = math.cos(a) * x + math.sin(a) * y, -math.sin(a) * x + math.cos(a) * y  # counter-clockwise on screen
    return centre + zoom * y + shift_y, centre + zoom * x + shift_x


def test_the_identity_changes_nothing():
    images = torch.rand(3, 1, SIZE, SIZE)
    assert torch.allclose(affine(images, one_transform(batch=3)), images, atol=1e-5)


def test_a_whole_pixel_shift_moves_a_bright_pixel_exactly():
    moved = affine(bright_pixel(10, 12), one_transform(shift_x=3, shift_y=-2))
    assert moved[0, 0, 8, 15] == pytest.approx(1.0, abs=1e-5)
    assert moved.sum() == pytest.approx(1.0, abs=1e-5)


def test_a_quarter_turn_is_counter_clockwise_on_screen():
    # The pixel right of and above the centre ends up above and left of it.
    turned = affine(bright_pixel(10, 20), one_transform(angle=90))
    row, col = where_it_lands(10, 20, angle=90)
    assert (row, col) == (7.0, 10.0)
    assert turned[0, 0, 7, 10] == pytest.approx(1.0, abs=1e-5)
    assert turned.sum() == pytest.approx(1.0, abs=1e-5)


def test_a_45_degree_shear_slides_each_row_by_its_height():
    sheared = affine(bright_pixel(20, 10), one_transform(shear=45))
    row, col = where_it_lands(20, 10, shear=45)
    assert (row, col) == (20.0, 16.5)  # 6.5 rows below the centre: 6.5 columns to the right
    assert centroid(sheared) == pytest.approx((row, col), abs=1e-4)
    assert sheared[0, 0, 20, 16] == pytest.approx(0.5, abs=1e-4)  # half a pixel: split over two columns


def test_a_bar_keeps_its_place_and_grows_under_a_zoom():
    bar = torch.zeros(1, 1, SIZE, SIZE)
    bar[0, 0, 6:9, 8:20] = 1.0  # a horizontal bar above the centre, 12 columns long
    zoomed = affine(bar, one_transform(zoom=1.5))
    expected_row, expected_col = where_it_lands(7, 13.5, zoom=1.5)
    assert centroid(zoomed) == pytest.approx((expected_row, expected_col), abs=0.05)
    bright_columns = int((zoomed[0, 0].amax(dim=0) > 0.5).sum())
    assert bright_columns == 18  # 12 columns long, times 1.5


@pytest.mark.parametrize("angle, zoom, shear, shift_x, shift_y", [
    (15, 1.0, 0, 0, 0), (-10, 1.1, 3, 2.5, -1.5), (7, 0.9, -3, -2, 2),
])
def test_the_centre_of_a_blob_moves_where_the_formula_says(angle, zoom, shear, shift_x, shift_y):
    rows, cols = torch.meshgrid(torch.arange(SIZE, dtype=torch.float32), torch.arange(SIZE, dtype=torch.float32),
                                indexing="ij")
    blob = torch.exp(-((rows - 9.0) ** 2 + (cols - 17.0) ** 2) / (2 * 1.5**2))[None, None]
    moved = affine(blob, one_transform(angle=angle, zoom=zoom, shear=shear, shift_x=shift_x, shift_y=shift_y))
    expected = where_it_lands(*centroid(blob), angle=angle, zoom=zoom, shear=shear, shift_x=shift_x, shift_y=shift_y)
    assert centroid(moved) == pytest.approx(expected, abs=0.05)


def test_each_image_of_a_batch_gets_its_own_transform():
    images = bright_pixel(10, 12).repeat(2, 1, 1, 1)
    parameters = AffineParameters(
        angle=torch.zeros(2, dtype=torch.float64), shift_x=torch.tensor([1.0, 4.0], dtype=torch.float64),
        shift_y=torch.zeros(2, dtype=torch.float64), zoom=torch.ones(2, dtype=torch.float64),
        shear=torch.zeros(2, dtype=torch.float64),
    )
    moved = affine(images, parameters)
    assert moved[0, 0, 10, 13] == pytest.approx(1.0, abs=1e-5)
    assert moved[1, 0, 10, 16] == pytest.approx(1.0, abs=1e-5)


def test_fill_is_the_background_that_comes_in_from_outside():
    background = -0.5
    images = torch.full((1, 1, SIZE, SIZE), background)
    moved = affine(images, one_transform(shift_x=5), fill=background)
    assert torch.allclose(moved, images, atol=1e-5)  # a uniform background stays uniform


def test_random_parameters_stay_in_their_ranges():
    p = random_parameters(20_000, degrees=15, translate=(0.1, 0.2), scale=(0.9, 1.1), shear=3,
                          generator=torch.Generator().manual_seed(0))
    checks = {"angle": (p.angle, -15, 15), "shift_x": (p.shift_x, -2.8, 2.8), "shift_y": (p.shift_y, -5.6, 5.6),
              "zoom": (p.zoom, 0.9, 1.1), "shear": (p.shear, -3, 3)}
    for name, (values, low, high) in checks.items():
        assert low <= float(values.min()) and float(values.max()) <= high, name
        # uniform: the range is nearly filled and centred
        assert float(values.max() - values.min()) > 0.99 * (high - low), name
        assert float(values.mean()) == pytest.approx((low + high) / 2, abs=0.02 * (high - low)), name


def test_a_seeded_augmenter_repeats_itself_and_different_seeds_differ():
    images = torch.rand(8, 1, SIZE, SIZE)
    first, again, other = RandomAffine(seed=1), RandomAffine(seed=1), RandomAffine(seed=2)
    a, b, c = first(images), again(images), other(images)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert not torch.equal(first(images), a)  # the next batch gets new transforms


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shape_dtype_and_device_are_kept(dtype):
    images = torch.rand(5, 1, SIZE, SIZE, dtype=dtype)
    out = RandomAffine(seed=0)(images)
    assert out.shape == images.shape and out.dtype == dtype and out.device == images.device


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="float tensor of images"):
        RandomAffine()(torch.zeros(4, SIZE, SIZE))
    with pytest.raises(ValueError, match="float tensor"):
        RandomAffine()(torch.zeros(4, 1, SIZE, SIZE, dtype=torch.uint8))
    with pytest.raises(ValueError, match="scale"):
        RandomAffine(scale=(1.1, 0.9))
