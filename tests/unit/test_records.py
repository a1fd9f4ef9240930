"""records_page: folder records and file records page the same way, skipping ones that vanished."""

import pytest

from service.adapters.blobstore.local import LocalBlobStore
from service.domain.records import records_page
from service.vocabulary.errors import NotFound


@pytest.mark.parametrize("suffix", ["/", ".json"])
def test_pages_visit_every_record_once_and_skip_vanished_ones(tmp_path, suffix):
    store = LocalBlobStore(tmp_path)
    ids = [f"id{n:02d}" for n in range(7)]
    for record_id in ids:
        key = f"t/records/{record_id}/record.json" if suffix == "/" else f"t/records/{record_id}.json"
        store.put_bytes(key, b"{}", "application/json")

    def load(record_id: str) -> str:
        if record_id == "id03":
            raise NotFound("deleted meanwhile")
        return record_id

    seen, after = [], None
    while True:
        page, after = records_page(store, "t/records/", after, 3, load, suffix)
        seen += page
        if after is None:
            break
    assert seen == [i for i in ids if i != "id03"]
