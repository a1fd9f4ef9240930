"""One suite for both AuditLog adapters: JSONL files on disk, and one part object per entry on S3 (moto)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.adapters.audit import AuditLog
from service.adapters.audit.blobs import BlobAuditLog
from service.adapters.audit.local import LocalAuditLog
from service.adapters.blobstore.local import LocalBlobStore
from service.adapters.blobstore.s3 import S3BlobStore

START = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
EVER = (datetime(2026, 2, 26, tzinfo=UTC), datetime(2026, 3, 8, tzinfo=UTC))  # each day is a listing on S3


@pytest.fixture(params=["local", "blobs"])
def log(request, tmp_path: Path) -> AuditLog:
    if request.param == "local":
        trail = LocalAuditLog(tmp_path / "audit")
    else:
        blobs = S3BlobStore(request.getfixturevalue("s3_bucket"), endpoint_url=request.getfixturevalue("moto_endpoint"))
        trail = BlobAuditLog(blobs)
    yield trail
    trail.close()


def entry(n: int, moment: datetime, tenant: str = "demo", actor: str = "alice", action: str = "POST /api/datasets"):
    return {
        "time": moment.isoformat(timespec="microseconds"),
        "request_id": f"req-{n:06d}",
        "tenant": tenant,
        "actor": actor,
        "action": action,
        "target": {"dataset_id": f"d{n}"},
        "status": 201,
        "outcome": "ok",
        "ms": 1.5,
    }


def read_all(log: AuditLog, limit: int, start=EVER[0], end=EVER[1], actor=None, action=None, tenant="demo"):
    """Every page, following the position; also returns the page sizes."""
    found, sizes, after = [], [], None
    while True:
        page, after = log.read(tenant, start, end, actor, action, limit, after)
        found += page
        sizes.append(len(page))
        if after is None:
            return found, sizes


def test_entries_come_back_in_order_as_appended(log):
    entries = [entry(n, START + timedelta(seconds=n)) for n in range(5)]
    for e in entries:
        log.append(e)
    log.append(entry(99, START, tenant="acme"))
    assert read_all(log, 100) == (entries, [5])
    assert read_all(log, 100, tenant="acme")[0] == [entry(99, START, tenant="acme")]
    assert read_all(log, 100, tenant="nobody") == ([], [0])


def test_pages_run_across_days(log):
    # three UTC days: 22:00 and 23:59:59.999999 of March 1st, then March 2nd, then a day with none, then March 4th
    moments = [START, START + timedelta(hours=1, minutes=59, seconds=59, microseconds=999_999)]
    moments += [datetime(2026, 3, 2, h, tzinfo=UTC) for h in (0, 1, 23)] + [datetime(2026, 3, 4, 12, tzinfo=UTC)]
    entries = [entry(n, m, actor="carol" if n % 2 else "alice") for n, m in enumerate(moments)]
    for e in entries:
        log.append(e)
    for limit in (1, 2, 4, 6, 7):
        found, sizes = read_all(log, limit)
        assert found == entries, limit
        assert all(0 < s <= limit for s in sizes), sizes
    carol, sizes = read_all(log, 1, actor="carol")
    assert carol == entries[1::2] and sizes == [1, 1, 1]
    # from inclusive, to exclusive, whatever the offset they are written in
    window = read_all(log, 2, start=moments[1], end=moments[4])[0]
    assert window == entries[1:4]
    east = datetime(2026, 3, 2, 2, tzinfo=UTC).astimezone(datetime.fromisoformat("2026-01-01T00:00+03:00").tzinfo)
    assert read_all(log, 10, start=east, end=east + timedelta(hours=22))[0] == entries[4:5]
    assert read_all(log, 10, action="DELETE /api/datasets/{dataset_id}")[0] == []


def test_a_line_still_being_written_is_not_returned(tmp_path):
    log = LocalAuditLog(tmp_path / "audit")
    first, second = entry(1, START), entry(2, START + timedelta(seconds=1))
    log.append(first)
    day_file = tmp_path / "audit" / "demo" / "2026-03-01.jsonl"
    whole = day_file.read_bytes()
    log.append(second)
    line = day_file.read_bytes()[len(whole) :]
    day_file.write_bytes(whole + line[:20])  # the second entry, half written
    page, after = log.read("demo", *EVER, None, None, 10, None)
    assert page == [first] and after is None
    page, after = log.read("demo", *EVER, None, None, 1, None)
    assert page == [first]
    with day_file.open("ab") as f:
        f.write(line[20:])  # ... and finished
    assert log.read("demo", *EVER, None, None, 10, None) == ([first, second], None)


def test_entries_are_stored_as_the_adapter_says(log, tmp_path):
    log.append(entry(1, START))
    log.append(entry(2, START + timedelta(hours=3)))  # the next UTC day
    if isinstance(log, LocalAuditLog):
        files = sorted(p.name for p in (tmp_path / "audit" / "demo").iterdir())
        assert files == ["2026-03-01.jsonl", "2026-03-02.jsonl"]
    else:
        keys = sorted(o.key for o in log.blobs.iter_objects("ledger/demo/audit/"))
        hints = "-".join(f"{zlib.crc32(v.encode()):08x}" for v in (entry(1, START)["actor"], entry(1, START)["action"]))
        assert keys == [  # time, request id, then hashes of actor and action for filtered reads
            f"ledger/demo/audit/2026-03-01/220000000000-req-000001-{hints}.jsonl",
            f"ledger/demo/audit/2026-03-02/010000000000-req-000002-{hints}.jsonl",
        ]


def test_a_filtered_read_opens_only_the_parts_that_can_match(tmp_path):
    """On S3 each entry is an object: an actor or action filter must not read every one of them."""
    store = LocalBlobStore(tmp_path / "blobs")
    log = BlobAuditLog(store)
    for n in range(30):
        log.append({**entry(n + 1, START + timedelta(seconds=n)), "actor": "ann" if n % 10 == 0 else "bob"})
    opened: list[str] = []
    real = store.get_bytes
    store.get_bytes = lambda key: opened.append(key) or real(key)
    found, _ = log.read("demo", *EVER, "ann", None, 50, None)
    assert [e["actor"] for e in found] == ["ann"] * 3
    assert len(opened) == 3
