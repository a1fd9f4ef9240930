"""Preprocessing per channels, resample filter and layout, and what counts as an undecodable item."""

from __future__ import annotations

import io

import numpy as np
import pytest
from edna_engine.preprocess import BatchBuffer, DecodeError, as_item, decode, normalize_batch, preprocess
from edna_engine.spec import parse_spec
from PIL import Image

from tests.engine.digits import DIGITS_SPEC, digit_png, digits

FILTERS = {"box": Image.Resampling.BOX, "bilinear": Image.Resampling.BILINEAR, "nearest": Image.Resampling.NEAREST}


def spec(**inp) -> dict:
    base = {"width": 5, "height": 4, "channels": 3, "scale": 1 / 255, "mean": [0.1, 0.2, 0.3], "std": [0.5, 0.25, 2.0]}
    return {"class_names": ["a", "b"], "input": {**base, "layout": "nhwc", "resample": "box", **inp}}


def png(array: np.ndarray, mode: str) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def reference(image: Image.Image, s: dict) -> np.ndarray:
    """The contract's recipe, written out independently: convert, resize, scale, normalise, HWC."""
    inp = s["input"]
    image = image.convert("L" if inp["channels"] == 1 else "RGB")
    image = image.resize((inp["width"], inp["height"]), resample=FILTERS[inp["resample"]])
    x = np.asarray(image, dtype=np.float32).reshape(inp["height"], inp["width"], inp["channels"])
    x = x * np.float32(inp["scale"])
    return (x - np.asarray(inp["mean"], dtype=np.float32)) / np.asarray(inp["std"], dtype=np.float32)


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(1).integers(0, 256, size=(37, 23, 3), dtype=np.uint8)


@pytest.mark.parametrize("resample", ["box", "bilinear", "nearest"])
@pytest.mark.parametrize("channels", [1, 3])
def test_matches_the_recipe_per_channels_and_filter(rgb, resample, channels):
    s = spec(channels=channels, resample=resample, mean=[0.1, 0.2, 0.3][:channels], std=[0.5, 0.25, 2.0][:channels])
    got = preprocess(png(rgb, "RGB"), parse_spec(s))
    assert got.shape == (4, 5, channels) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference(Image.fromarray(rgb, "RGB"), s), rtol=1e-6, atol=1e-6)


def test_filters_give_different_results(rgb):
    results = [preprocess(png(rgb, "RGB"), parse_spec(spec(resample=r))) for r in ("box", "bilinear", "nearest")]
    assert not np.allclose(results[0], results[1]) and not np.allclose(results[0], results[2])


def test_gray_source_for_a_colour_model_repeats_the_channel():
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    got = preprocess(png(gray, "L"), parse_spec(spec(mean=[0, 0, 0], std=[1, 1, 1])))
    expected = gray.astype(np.float32) / 255
    for c in range(3):
        np.testing.assert_allclose(got[:, :, c], expected, rtol=1e-6)


def test_mean_and_std_apply_per_channel():
    flat = np.zeros((4, 5, 3), dtype=np.uint8)
    flat[..., 0], flat[..., 1], flat[..., 2] = 255, 0, 51
    got = preprocess(png(flat, "RGB"), parse_spec(spec()))
    np.testing.assert_allclose(got[0, 0], [(1 - 0.1) / 0.5, (0 - 0.2) / 0.25, (0.2 - 0.3) / 2.0], rtol=1e-5)


@pytest.mark.parametrize("layout", ["flat", "nchw", "nhwc"])
def test_layouts(rgb, layout):
    s = parse_spec(spec(layout=layout))
    items = [preprocess(png(rgb, "RGB"), s), preprocess(png(rgb[::-1].copy(), "RGB"), s)]
    batch = BatchBuffer(s.item_shape).fill([as_item(x, s) for x in items])
    assert batch.dtype == np.float32 and batch.flags["C_CONTIGUOUS"]
    hwc = np.stack(items)
    if layout == "flat":
        assert batch.shape == (2, 4 * 5 * 3)
        y, x, c = 3, 2, 1  # row-major HWC: index (y * W + x) * C + c
        assert batch[1, (y * 5 + x) * 3 + c] == hwc[1, y, x, c]
    elif layout == "nchw":
        assert batch.shape == (2, 3, 4, 5)
        np.testing.assert_array_equal(batch, hwc.transpose(0, 3, 1, 2))
    else:
        assert batch.shape == (2, 4, 5, 3)
        np.testing.assert_array_equal(batch, hwc)


def test_demo_digits_come_back_as_sklearn_features():
    images, _ = digits()
    got = preprocess(digit_png(images[7]), parse_spec(DIGITS_SPEC))
    assert got.shape == (8, 8, 1)
    # Box-downscaling the x8 nearest upscale recovers each pixel; 16/255 undoes round(v·255/16).
    np.testing.assert_allclose(got[:, :, 0], images[7], atol=8 / 255 + 1e-6)


@pytest.mark.parametrize(
    "data",
    [b"", b"not an image at all", png(np.zeros((8, 8), np.uint8), "L")[:40]],
    ids=["empty", "garbage", "truncated"],
)
def test_undecodable_bytes_raise_decode_error(data):
    with pytest.raises(DecodeError, match="cannot decode"):
        preprocess(data, parse_spec(DIGITS_SPEC))


def test_images_above_the_pixel_budget_are_refused_before_decoding():
    big = png(np.zeros((300, 400), np.uint8), "L")
    with pytest.raises(DecodeError, match="400x300"):
        preprocess(big, parse_spec(DIGITS_SPEC), max_pixels=100_000)
    assert preprocess(big, parse_spec(DIGITS_SPEC), max_pixels=120_000).shape == (8, 8, 1)


def test_the_batch_buffer_is_reused_and_shrinks_only_when_released():
    buffer = BatchBuffer((2, 3))
    first = buffer.fill([np.full((2, 3), i, np.float32) for i in range(4)])
    array = buffer.array
    second = buffer.fill([np.full((2, 3), 9, np.float32)] * 2)
    assert buffer.array is array and second.shape == (2, 2, 3) and (second == 9).all()
    assert first.base is array or first.base is array.base
    buffer.release()
    assert buffer.fill([np.zeros((2, 3), np.float32)]).shape == (1, 2, 3) and len(buffer.array) == 1


@pytest.mark.parametrize("layout", ["flat", "nchw", "nhwc"])
@pytest.mark.parametrize("channels", [1, 3])
def test_a_batch_of_raw_pixels_normalised_at_once_equals_each_item_preprocessed(rgb, layout, channels):
    # The engine carries uint8 pixels from its fetch threads and normalises whole batches: bit for bit
    # what preprocessing each item gives.
    s = parse_spec(
        spec(layout=layout, channels=channels, mean=[0.1, 0.2, 0.3][:channels], std=[0.5, 0.25, 2.0][:channels])
    )
    blobs = [png(rgb, "RGB"), png(rgb[::-1].copy(), "RGB")]
    pixels = [as_item(decode(b, s), s) for b in blobs]
    assert all(p.dtype == np.uint8 for p in pixels)
    batch = normalize_batch(BatchBuffer(s.item_shape).fill(pixels), s)
    np.testing.assert_array_equal(batch, np.stack([as_item(preprocess(b, s), s) for b in blobs]))
