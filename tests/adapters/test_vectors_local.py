"""The embedded vector index shows every behaviour the port promises, plus what only its files can show."""

from __future__ import annotations

import os
import shutil
import stat
import threading
import time

import numpy as np
import pytest
from vector_behaviours import DIMS, T0, VectorBehaviours, batches, item, load, matrix, same, scanned, truth

from service.adapters.vectorindex import VectorSet
from service.adapters.vectorindex import local as adapter
from service.adapters.vectorindex.local import LocalVectorIndex


class TestLocal(VectorBehaviours):
    @pytest.fixture
    def index(self, tmp_path):
        return LocalVectorIndex(tmp_path / "vectors")

    def rebuilt(self, index: LocalVectorIndex) -> LocalVectorIndex:
        shutil.rmtree(index.root)
        return LocalVectorIndex(index.root)


def files(root) -> list[str]:
    return sorted(p.name for p in (root / "sets").iterdir())


def test_a_reopened_index_holds_its_sets_and_removals(tmp_path):
    ids, rows = [item(n) for n in range(30)], matrix(30, 1)
    first = LocalVectorIndex(tmp_path)
    load(first, ids, rows)
    first.remove_items("t1", "d1", [ids[0]])
    again = LocalVectorIndex(tmp_path)
    assert again.info("t1", "d1", "m1") == VectorSet("m1", "j1", T0 + 10, 29, DIMS)
    assert set(scanned(again)) == set(ids[1:])
    same(again.nearest("t1", "d1", "m1", rows[1], 3), truth(ids[1:], rows[1:], rows[1], 3))
    assert load(again, ids, rows, job="j2", finished=20) == 29


def test_files_are_private_raw_and_only_the_current_set_is_kept(tmp_path):
    root = tmp_path / "v"
    index = LocalVectorIndex(root)
    load(index, [item(n) for n in range(5)], matrix(5, 2), job="j1", finished=1)
    first = files(root)
    load(index, [item(n) for n in range(5)], matrix(5, 3), job="j2", finished=2)
    kept = files(root)
    assert len(kept) == 3 and not set(kept) & set(first)  # fresh names: nothing is written over
    vectors = next(name for name in kept if name.endswith(".f32"))
    assert (root / "sets" / vectors).stat().st_size == 5 * DIMS * 4  # the unit rows as float32, nothing else
    assert stat.S_IMODE(os.stat(root).st_mode) == stat.S_IMODE(os.stat(root / "sets").st_mode) == 0o700
    for path in [root / "catalogue.db", *(root / "sets").iterdir()]:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    index.remove_tenant("t1")
    assert files(root) == []


def test_ids_are_a_compact_bytes_array_beside_a_mapped_matrix(tmp_path):
    index = LocalVectorIndex(tmp_path)
    ulids = [f"01J{n:023d}" for n in range(100)]
    load(index, ulids[::-1], matrix(100, 4))
    mapped = index._set("t1", "d1", "m1")
    assert mapped.ids.dtype == np.dtype("S26") and isinstance(mapped.ids, np.memmap)
    assert isinstance(mapped.matrix.base, np.memmap)
    keys = adapter._encoded([ulids[7], ulids[7] + "x", "short", "zzz"])
    assert list(mapped.rows_of(keys)) == [92]


def test_ids_of_any_text_sort_as_strings_do(tmp_path):
    index = LocalVectorIndex(tmp_path)
    names = ["b", "a/../x", "é", "Z", "a b", "日本", "a"]
    rows = np.tile(matrix(1, 5), (len(names), 1))  # all tied: the ids alone order them
    load(index, names, rows)
    assert [i for i, _ in index.nearest("t1", "d1", "m1", rows[0], 10)] == sorted(names)
    assert index.vector("t1", "d1", "m1", "日本") is not None
    index.remove_items("t1", "d1", ["é"])
    assert set(scanned(index)) == set(names) - {"é"}


def test_an_older_job_that_finishes_writing_last_does_not_switch(tmp_path):
    """j1 (finished earlier) is still streaming when j2 (finished later) switches the set."""
    index = LocalVectorIndex(tmp_path)
    ids, rows, newer = [item(n) for n in range(20)], matrix(20, 6), matrix(20, 7)

    def slow_old():
        yield ids[:10], rows[:10]
        assert load(index, ids, newer, job="j2", finished=20) == 20
        yield ids[10:], rows[10:]

    assert index.replace("t1", "d1", "m1", "j1", T0 + 10, slow_old()) == 0
    assert index.info("t1", "d1", "m1").job_id == "j2"
    same(index.nearest("t1", "d1", "m1", newer[0], 5), truth(ids, newer, newer[0], 5))
    assert len(files(tmp_path)) == 3  # the refused job's files are gone


def test_an_item_removed_while_a_job_loads_stays_out(tmp_path):
    index = LocalVectorIndex(tmp_path)
    ids, rows = [item(n) for n in range(20)], matrix(20, 8)

    def removing_midway():
        yield ids[:10], rows[:10]
        index.remove_items("t1", "d1", [ids[3], ids[15]])
        yield ids[10:], rows[10:]

    assert index.replace("t1", "d1", "m1", "j1", T0, removing_midway()) == 18
    assert set(scanned(index)) == set(ids) - {ids[3], ids[15]}
    assert LocalVectorIndex(tmp_path).info("t1", "d1", "m1").count == 18


def test_a_failed_load_leaves_the_set_and_no_files(tmp_path):
    index = LocalVectorIndex(tmp_path)
    ids, rows = [item(n) for n in range(10)], matrix(10, 9)
    load(index, ids, rows)
    held = files(tmp_path)

    def failing():
        yield ids, rows
        raise OSError(28, "No space left on device")

    with pytest.raises(Exception, match="try again"):  # the disk's refusal, in the port's terms
        index.replace("t1", "d1", "m1", "j2", T0 + 20, failing())
    assert files(tmp_path) == held and index.info("t1", "d1", "m1").job_id == "j1"


def test_readers_see_the_old_set_or_the_new_one_never_half(tmp_path):
    index = LocalVectorIndex(tmp_path)
    jobs = {job: ([f"{job}{n:03d}" for n in range(200)], matrix(200, 10 + n)) for n, job in enumerate("abcd")}
    load(index, *jobs["a"], job="a", finished=0)
    stop, seen, errors = threading.Event(), set(), []
    query = matrix(1, 20)[0]

    def read():
        while not stop.is_set():
            try:
                found = [i for i, _ in index.nearest("t1", "d1", "m1", query, 500)]
                scan = [i for ids, _ in index.scan("t1", "d1", "m1", 64) for i in ids]
                for names in (found, scan):
                    assert len(names) == 200 and len({i[0] for i in names}) == 1, names[:3]
                seen.add(found[0][0])
            except Exception as exc:  # noqa: BLE001 (reported below: an assertion in a thread is otherwise lost)
                errors.append(exc)
                return

    readers = [threading.Thread(target=read) for _ in range(2)]
    for reader in readers:
        reader.start()
    for n, job in enumerate("bcd", start=1):
        index.replace("t1", "d1", "m1", job, T0 + n, iter(batches(*jobs[job], size=3)))
        time.sleep(0.02)
    stop.set()
    for reader in readers:
        reader.join()
    assert errors == []
    assert index.info("t1", "d1", "m1").job_id == "d" and seen <= set("abcd")


def test_another_process_replacing_or_removing_is_seen(tmp_path):
    """Two adapters over one directory stand for two processes: each sees the other's writes."""
    ours, theirs = LocalVectorIndex(tmp_path), LocalVectorIndex(tmp_path)
    ids, rows, newer = [item(n) for n in range(10)], matrix(10, 21), matrix(10, 22)
    load(ours, ids, rows)
    assert ours.nearest("t1", "d1", "m1", rows[0], 1)[0][0] == ids[0]  # mapped and cached
    load(theirs, ids, newer, job="j2", finished=20)
    same(ours.nearest("t1", "d1", "m1", newer[4], 3), truth(ids, newer, newer[4], 3))
    theirs.remove_items("t1", "d1", [ids[4]])
    assert ours.vector("t1", "d1", "m1", ids[4]) is None and ours.info("t1", "d1", "m1").count == 9


def test_files_a_crash_left_behind_are_swept_when_old(tmp_path, monkeypatch):
    index = LocalVectorIndex(tmp_path)
    load(index, [item(n) for n in range(3)], matrix(3, 23))
    held = files(tmp_path)
    stale, recent = tmp_path / "sets" / "dead1234.f32", tmp_path / "sets" / "busy5678.f32"
    stale.write_bytes(b"x" * 64)
    recent.write_bytes(b"x" * 64)
    old = time.time() - adapter.ORPHAN_AGE - 60
    os.utime(stale, (old, old))
    LocalVectorIndex(tmp_path)
    assert files(tmp_path) == sorted([*held, recent.name])
