"""Decompression bombs among a job's items: refused from their header, one error prediction each."""

from __future__ import annotations

import io

import pytest
from edna_engine import pipeline
from edna_engine.preprocess import DecodeError, preprocess
from edna_engine.spec import parse_spec
from PIL import Image, ImageFile

from tests.bombs import gif_bomb, jpeg_bomb, png_bomb, webp_bomb
from tests.engine.digits import DIGITS_SPEC, ITEMS, OUT, job, seeded_storage

BOMBS = [png_bomb, jpeg_bomb, gif_bomb, webp_bomb]

# Pillow warns (its default guard is 89 MP) before the cap refuses: expected here.
pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")


@pytest.fixture(autouse=True)
def fresh_pillow(monkeypatch):
    """Pillow's guard as a fresh job process has it (the service's thumbnailer in this process may have set it)."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1024 * 1024 * 1024 // 4 // 3)


@pytest.fixture
def no_decoding(monkeypatch):
    def load(self):
        raise AssertionError(f"decoded a {self.size} {self.format} image")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.mark.parametrize("bomb", BOMBS, ids=lambda b: b.__name__)
def test_a_bomb_is_refused_from_its_header(bomb, no_decoding):
    with pytest.raises(DecodeError, match=r"^image is 12000x12000, above the 50-megapixel cap$"):
        preprocess(bomb(), parse_spec(DIGITS_SPEC))


def test_beyond_pillows_own_guard_the_refusal_still_names_the_cap(monkeypatch, no_decoding):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # a process that lowered it (twice: 2 MP)
    with pytest.raises(DecodeError, match=r"^image is above the 50-megapixel cap: "):
        preprocess(png_bomb(), parse_spec(DIGITS_SPEC))


def test_a_job_over_bombs_predicts_the_rest():
    storage = seeded_storage()
    bombs = {f"{ITEMS}bomb-{b.__name__}/x": b() for b in BOMBS}
    for key, data in bombs.items():
        storage.put(key, data)
    # A budget whose per-worker share is above the default cap: the cap is what refuses.
    params = job(shards=2, max_memory_mb=4096)
    status = run(storage, params)
    assert status["status"] == "succeeded"
    lines = storage.lines(OUT + "parts/")
    refused = {p["key"]: p for p in lines if p["predicted"] is None}
    assert set(refused) == set(bombs)
    assert {p["error"] for p in refused.values()} == {"image is 12000x12000, above the 50-megapixel cap"}
    assert status["metrics"]["items"] == 124 and status["metrics"]["errors"] == 4
    assert status["metrics"]["evaluated"] == 120


def run(storage, params) -> dict:
    """The whole pipeline in the DAG's order; the final status document."""
    for shard in pipeline.plan(storage, params):
        pipeline.infer_shard(storage, params, shard)
    pipeline.evaluate(storage, params)
    return pipeline.finalize(storage, params)


@pytest.mark.parametrize("fmt", ["PCX", "TGA", "ICO", "PPM"])
def test_formats_outside_the_allowed_ones_are_never_decoded(fmt, no_decoding):
    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, format=fmt)
    with pytest.raises(DecodeError, match="cannot decode image"):
        preprocess(out.getvalue(), parse_spec(DIGITS_SPEC))
