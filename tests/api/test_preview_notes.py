"""An item without a thumbnail says why, on both blob stores: its placeholder shows that reason."""

from __future__ import annotations

import pytest

from service.domain.thumbnails import MAX_SOURCE_BYTES, preview_note
from tests.api.test_events import png
from tests.bombs import png_bomb


def test_each_kind_of_upload_says_why_it_has_no_thumbnail(stack):
    client = stack.client("editor")
    dataset_id = client.call("POST", "/api/datasets", json={"name": "previews"})["id"]
    uploads = {
        "good": client.upload(dataset_id, "good.png", png(40, 30), "image/png"),
        "text": client.upload(dataset_id, "notes.txt", b"just words", "text/plain"),
        "corrupt": client.upload(dataset_id, "broken.png", png(40, 30)[:60], "image/png"),
        # above the 50-megapixel cap, below twice it (where Pillow refuses even to read the size)
        "bomb": client.upload(dataset_id, "huge.png", png_bomb(8_000, 8_000), "image/png"),
    }
    assert stack.edna.wait_for_thumbnails(60)
    path = f"/api/datasets/{dataset_id}/items"
    read = {name: client.call("GET", f"{path}/{item['id']}") for name, item in uploads.items()}
    assert read["good"]["preview_note"] is None and read["good"]["thumbnail_url"]
    assert read["text"]["preview_note"] == "not an image"
    assert read["corrupt"]["preview_note"] == "not a readable image"
    assert read["bomb"]["preview_note"] == "too many pixels for a thumbnail (8000x8000)"
    assert all(read[name]["thumbnail_url"] is None for name in ("text", "corrupt", "bomb"))
    listed = client.call("GET", path)["items"]
    assert {i["filename"]: i["preview_note"] for i in listed}["huge.png"].startswith("too many pixels")


@pytest.mark.parametrize(
    ("args", "note"),
    [
        (("image/png", 10, True, None, None, None), "upload not finished"),
        (("image/png", MAX_SOURCE_BYTES + 1, False, None, None, None), "too large for a thumbnail (over 64 MB)"),
        (("image/png", 10, False, "pixels", None, None), "too many pixels for a thumbnail"),
        (("image/png", 10, False, None, None, None), "thumbnail on its way"),
    ],
)
def test_the_notes_of_states_an_upload_rarely_reaches(args, note):
    assert preview_note(*args) == note
