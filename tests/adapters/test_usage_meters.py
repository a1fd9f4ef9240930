"""The UsageMeter adapters: CloudWatchUsageMeter over S3 on the moto server, SqliteUsageMeter on disk."""

from __future__ import annotations

import io
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from service.adapters.blobstore.s3 import S3BlobStore
from service.adapters.usage import REQUESTS, UPLOAD_BYTES, hour_of
from service.adapters.usage.cloudwatch import CloudWatchUsageMeter
from service.adapters.usage.sqlite import SqliteUsageMeter

NOW = datetime.now(UTC)
AROUND_NOW = (NOW - timedelta(hours=2), NOW + timedelta(hours=2))  # the counts of these tests are all "now"
NIGHT = datetime(2026, 3, 1, 23, tzinfo=UTC)  # an hour before a day boundary


class FlakyBlobs:
    """A blob store whose next `fail` puts raise, as S3 does when it throttles."""

    def __init__(self, inner):
        self.inner = inner
        self.fail = 0
        self.puts = 0

    def put_bytes(self, *args, **kwargs):
        if self.fail:
            self.fail -= 1
            raise OSError("SlowDown")
        self.puts += 1
        return self.inner.put_bytes(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def blobs(s3_bucket, moto_endpoint) -> S3BlobStore:
    return S3BlobStore(s3_bucket, endpoint_url=moto_endpoint)


def cloudwatch(blobs, out=None) -> CloudWatchUsageMeter:
    return CloudWatchUsageMeter(blobs, flush_seconds=3600, out=out or io.StringIO())


def emitted(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def summed(lines: list[dict], tenant: str) -> Counter:
    total: Counter = Counter()
    for line in lines:
        if line["tenant"] == tenant:
            for metric in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                total[metric["Name"]] += line[metric["Name"]]
    return total


def test_cloudwatch_meter_writes_emf_lines_and_shards(blobs):
    out = io.StringIO()
    meter = cloudwatch(blobs, out)
    now = hour_of(datetime.now(UTC))
    for _ in range(3):
        meter.count("demo", REQUESTS)
    meter.count("demo", UPLOAD_BYTES, 1234)
    meter.count("acme", REQUESTS)
    assert out.getvalue() == "" and list(blobs.iter_objects("ledger/")) == []  # counting only touches memory
    meter.flush()

    lines = emitted(out)
    assert sorted(line["tenant"] for line in lines) == ["acme", "demo"]
    for line in lines:
        (directive,) = line["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == "Edna" and directive["Dimensions"] == [["tenant"]]
        assert isinstance(line["_aws"]["Timestamp"], int) and line["hour"] == now
        for metric in directive["Metrics"]:
            unit = "Bytes" if metric["Name"].endswith("bytes") else "Count"
            assert metric["Name"] in line and metric["Unit"] == unit
    assert summed(lines, "demo") == {REQUESTS: 3, UPLOAD_BYTES: 1234}

    keys = [o.key for o in blobs.iter_objects("ledger/")]
    day, hour = now[:10], now[11:]
    assert sorted(keys) == sorted(f"ledger/{t}/usage/{day}/{hour}-{meter.writer}.json" for t in ("acme", "demo"))
    assert meter.totals("demo", *AROUND_NOW) == {REQUESTS: 3, UPLOAD_BYTES: 1234}
    assert meter.totals("acme", *AROUND_NOW) == {REQUESTS: 1}
    meter.flush()
    assert len(emitted(out)) == 2  # nothing pending: nothing written, nothing emitted


def test_cloudwatch_meters_of_two_containers_add_up(blobs):
    first, second = cloudwatch(blobs), cloudwatch(blobs)
    assert first.writer != second.writer
    threads = [
        threading.Thread(target=lambda m=m, n=n: [m.count("demo", REQUESTS) for _ in range(n)])
        for m, n in ((first, 300), (second, 200))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first.flush()
    second.flush()
    first.count("demo", REQUESTS, 5)  # a shard is cumulative: rewriting it never double counts
    first.flush()
    assert first.totals("demo", *AROUND_NOW) == second.totals("demo", *AROUND_NOW) == {REQUESTS: 505}
    assert len(list(blobs.iter_objects("ledger/demo/usage/"))) == 2
    # a meter started later (a new container) reads what the others wrote
    assert cloudwatch(blobs).totals("demo", *AROUND_NOW) == {REQUESTS: 505}


def test_cloudwatch_meter_loses_nothing_when_a_write_fails(blobs):
    flaky = FlakyBlobs(blobs)
    out = io.StringIO()
    meter = cloudwatch(flaky, out)
    meter.count("demo", REQUESTS, 4)
    meter.count("acme", REQUESTS, 1)
    flaky.fail = 1
    with pytest.raises(OSError):
        meter.flush()
    assert out.getvalue() == ""  # nothing emitted for counts not stored
    meter.count("demo", REQUESTS, 2)  # counted while the write was failing
    meter.flush()
    assert meter.totals("demo", *AROUND_NOW) == {REQUESTS: 6} and meter.totals("acme", *AROUND_NOW) == {REQUESTS: 1}
    assert summed(emitted(out), "demo") == {REQUESTS: 6} and summed(emitted(out), "acme") == {REQUESTS: 1}

    # a failure after one tenant's shard was written: rewritten, never counted twice
    meter.count("acme", REQUESTS, 10)
    meter.count("demo", REQUESTS, 10)
    flaky.fail = 0
    real_put = flaky.put_bytes
    calls = []

    def second_put_fails(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise OSError("SlowDown")
        return real_put(*args, **kwargs)

    flaky.put_bytes = second_put_fails
    with pytest.raises(OSError):
        meter.flush()
    flaky.put_bytes = real_put
    meter.flush()
    assert meter.totals("demo", *AROUND_NOW) == {REQUESTS: 16} and meter.totals("acme", *AROUND_NOW) == {REQUESTS: 11}
    assert summed(emitted(out), "demo") == {REQUESTS: 16} and summed(emitted(out), "acme") == {REQUESTS: 11}


def put_in_hours(meter, counts: dict[datetime, float]) -> None:
    """Counts placed in given hours, as if made then (count() always uses the current hour)."""
    meter.give_back({("demo", hour_of(moment), REQUESTS): value for moment, value in counts.items()})


def test_cloudwatch_hour_ranges(blobs):
    meter = cloudwatch(blobs)
    put_in_hours(meter, {NIGHT - timedelta(hours=1): 1, NIGHT: 10, NIGHT + timedelta(hours=1): 100})
    check_hour_ranges(meter)
    assert {o.key.split("/")[3] for o in blobs.iter_objects("ledger/demo/usage/")} == {"2026-03-01", "2026-03-02"}


def test_cloudwatch_counts_arriving_late_for_an_hour_already_written(blobs):
    """A count taken just before the hour turned, added after that hour's shard was written and set aside."""
    meter = cloudwatch(blobs)
    put_in_hours(meter, {NIGHT: 10})
    meter.flush()
    put_in_hours(meter, {NIGHT: 1})
    meter.flush()
    assert meter.totals("demo", NIGHT, NIGHT + timedelta(hours=1)) == {REQUESTS: 11}


def check_hour_ranges(meter) -> None:
    def total(start: datetime, end: datetime) -> float:
        return meter.totals("demo", start, end).get(REQUESTS, 0)

    hour = timedelta(hours=1)
    assert total(NIGHT, NIGHT + hour) == 10  # [23:00, 00:00): that hour only
    assert total(NIGHT - hour, NIGHT + 2 * hour) == 111
    assert total(NIGHT + timedelta(minutes=59), NIGHT + hour + timedelta(microseconds=1)) == 110  # touches both
    assert total(NIGHT + hour, NIGHT + 2 * hour) == 100  # the next day
    assert total(NIGHT - 2 * hour, NIGHT - hour) == 0
    assert total(NIGHT - timedelta(days=3), NIGHT + timedelta(days=3)) == 111  # days without shards between
    east = NIGHT.astimezone(datetime.fromisoformat("2026-01-01T00:00:00+05:00").tzinfo)
    assert total(east, east + hour) == 10  # the same instants in another offset


def sqlite_meter(path: Path) -> SqliteUsageMeter:
    return SqliteUsageMeter(path, flush_seconds=0.005)


def test_sqlite_meter_is_exact_under_concurrent_counting(tmp_path):
    meter = sqlite_meter(tmp_path / "usage.db")
    readings = []

    def work(tenant: str) -> None:
        for n in range(2000):
            meter.count(tenant, REQUESTS)
            if n % 500 == 0:
                readings.append(meter.totals(tenant, *AROUND_NOW)[REQUESTS])  # reads while others count

    threads = [threading.Thread(target=work, args=(t,)) for t in ("demo", "demo", "demo", "acme")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert meter.totals("demo", *AROUND_NOW) == {REQUESTS: 6000}
    assert meter.totals("acme", *AROUND_NOW) == {REQUESTS: 2000}
    assert all(0 < r <= 6000 for r in readings)
    meter.close()


def test_sqlite_meter_survives_a_restart(tmp_path):
    meter = sqlite_meter(tmp_path / "usage.db")
    meter.count("demo", REQUESTS, 7)
    meter.count("demo", UPLOAD_BYTES, 4096)
    meter.close()  # writes what is pending
    again = sqlite_meter(tmp_path / "usage.db")
    assert again.totals("demo", *AROUND_NOW) == {REQUESTS: 7, UPLOAD_BYTES: 4096}
    again.count("demo", REQUESTS, 3)
    assert again.totals("demo", *AROUND_NOW) == {REQUESTS: 10, UPLOAD_BYTES: 4096}  # pending counts included
    again.close()


def test_sqlite_hour_ranges(tmp_path):
    meter = sqlite_meter(tmp_path / "usage.db")
    put_in_hours(meter, {NIGHT - timedelta(hours=1): 1, NIGHT: 10, NIGHT + timedelta(hours=1): 100})
    check_hour_ranges(meter)
    put_in_hours(meter, {NIGHT: 1})  # later counts for the same hour add up
    assert meter.totals("demo", NIGHT, NIGHT + timedelta(hours=1)) == {REQUESTS: 11}
    meter.close()


def test_sqlite_totals_see_counts_the_background_flush_is_writing(tmp_path):
    """The flush thread preempted between taking the counts and writing them: a total still includes them."""
    meter = sqlite_meter(tmp_path / "usage.db")
    meter._stop.set()  # no background thread: this test plays it, with a pause at the worst moment
    meter._thread.join()
    taken = threading.Event()
    take = meter.take_pending

    def preempted_take():
        meter.take_pending = take
        pending = take()
        taken.set()
        time.sleep(0.3)
        return pending

    meter.count("demo", REQUESTS, 5)
    meter.take_pending = preempted_take
    flusher = threading.Thread(target=meter.flush)
    flusher.start()
    taken.wait(5)
    assert meter.totals("demo", *AROUND_NOW) == {REQUESTS: 5}
    flusher.join()
    assert meter.totals("demo", *AROUND_NOW) == {REQUESTS: 5}
    meter.close()
