"""Groups of near-duplicate items among a set's normalised vectors, found without comparing every pair.

Random-hyperplane LSH (Charikar, 2002), then exact checks, in passes over the stream of vectors:

1. Each vector's signs against max(L·k, SKETCH) fixed-seed random hyperplanes are kept, packed (64 bytes
   an item up to 512 bits), with the item's id; nothing else per item. Table t's bucket code is bits
   t·k .. t·k + k - 1. k grows with log2(n), so a bucket holds a few unrelated items whatever n is; L is
   the fewest tables in which a pair exactly at the threshold shares a bucket with probability >= RECALL.
2. Candidate pairs share a bucket in some table. In a bucket of more than WINDOW + 1 items (a cluster)
   each member is paired only with its WINDOW neighbours in the order of the next table's code, so a
   table gives at most n·WINDOW pairs however the data clusters. All the bits are a sketch whose
   Hamming distance estimates the angle: a pair farther apart than a pair at the threshold would be
   (binomial tail, Z standard deviations) is dropped unread. Items left in some pair are candidates.
3. Another pass gathers the float32 vectors of the candidates only (for data with few duplicates,
   little more than the duplicates), and every table's pairs are checked exactly (cosine >= threshold),
   skipping pairs already in one group (union-find), so a large group costs about one check per member.
   If the candidates' vectors exceed `budget` bytes they are split into blocks, each pair of blocks
   checked in a pass of its own: more passes, same memory.

So the memory per item is its id, the sketch and 17 bytes of bookkeeping, plus about 64 bytes while a
table's buckets are sorted, plus the vectors of the candidates; the working memory of a step is bounded
(PAIRS pairs, HASHED vectors, WORKING bytes).

A group's similarity is the lowest of the similarities of the pairs that joined it (its spanning edges,
in the order they were found). Thresholds below 0.8 are refused: the tables needed grow steeply as it
falls (about 140 at 0.8 for 100k items) and the pairs then span whole clusters, which is a job for
nearest-neighbour search, not this.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import numpy as np

Batches = Callable[[], Iterator[tuple[list[str], np.ndarray]]]
Group = tuple[list[str], float]

LOWEST_THRESHOLD = 0.8
RECALL = 0.99  # a pair exactly at the threshold shares a bucket in some table at least this often
BUCKET_BITS = 2  # k = bit length of n - BUCKET_BITS: about 2**BUCKET_BITS unrelated items per bucket
MIN_BITS, MAX_BITS = 4, 30
WINDOW = 24  # neighbours per member inside a large bucket
SKETCH = 512  # bits at least: at threshold 0.95 that drops ~98% of the pairs at 0.85 as too far
Z = 3.1  # sketch tolerance: it drops a pair exactly at the threshold about once in 1,000
TOLERANCE = 1e-6  # float32 dot products of equal unit vectors can fall just short of 1
SEED = 14
PAIRS = 8192  # candidate pairs handled at a time (small enough to stay in cache)
HASHED = 2048  # vectors hashed at a time: their signs take 4 bytes a bit until packed
BUDGET = 256 * 2**20  # bytes of candidate vectors held at once
WORKING = 16 * 2**20  # bytes of gathered vectors per exact check


def tables_for(threshold: float, n: int) -> tuple[int, int]:
    """(bits per table, tables) for `n` items: see the module's docstring."""
    bits = min(MAX_BITS, max(MIN_BITS, n.bit_length() - BUCKET_BITS))
    together = (1 - math.acos(threshold) / math.pi) ** bits
    tables = 1 if together >= RECALL else math.ceil(math.log(1 - RECALL) / math.log(1 - together))
    return bits, tables


def find_groups(
    batches: Batches,
    threshold: float,
    progress: Callable[[int, int], None] | None = None,
    total: int = 0,
    budget: int = BUDGET,
) -> list[Group]:
    """Connected components of the pairs with cosine >= threshold, as (sorted item ids, the lowest
    similarity that joined the group), largest group first, then by first id. `total` (the item count,
    counted with a pass of its own when 0) sizes the tables and is what progress(done, total) counts to."""
    if not LOWEST_THRESHOLD <= threshold <= 1.0:
        raise ValueError(f"threshold must be between {LOWEST_THRESHOLD} and 1: below it, pairs span whole clusters")
    if total <= 0:
        total = sum(len(ids) for ids, _ in batches())
    done = _Progress(progress, total)
    ids, sketch = _Sketch.of(batches, *tables_for(threshold, total), lambda seen: done.at(0.5 * seen / total))
    if sketch is None:
        done.at(1.0)
        return []
    angle = math.acos(threshold) / math.pi
    width = sketch.words.shape[1] * 64
    far = width * angle + Z * math.sqrt(width * angle * (1 - angle))
    candidate = np.zeros(len(ids), dtype=bool)
    for table in range(sketch.tables):
        for i, j in sketch.pairs(table):
            keep = sketch.distance(i, j) <= far
            candidate[i[keep]] = candidate[j[keep]] = True
        done.at(0.5 + 0.1 * (table + 1) / sketch.tables)
    groups = _Groups(len(ids))
    block = _blocks(candidate, budget // (4 * sketch.dims))
    count = int(block.max()) + 1
    rounds = [(a, b) for a in range(count) for b in range(a, count)]
    for r, (a, b) in enumerate(rounds):
        row, vectors = _gather(batches, ids, block, a, b)
        done.at(0.6 + 0.4 * (r + 0.5) / len(rounds))
        for table in range(sketch.tables):
            for i, j in sketch.pairs(table):
                keep = ((block[i] == a) & (block[j] == b)) | ((block[i] == b) & (block[j] == a))
                i, j = i[keep], j[keep]
                keep = sketch.distance(i, j) <= far
                i, j = i[keep], j[keep]
                keep = groups.roots(i) != groups.roots(j)
                _check(vectors, row, i[keep], j[keep], threshold, groups)
            done.at(0.6 + 0.4 * (r + 0.5 + 0.5 * (table + 1) / sketch.tables) / len(rounds))
    done.at(1.0)
    return _listed(ids, groups)


class _Progress:
    """Maps the stages' fractions of the work onto progress(done, total), never going back."""

    def __init__(self, report: Callable[[int, int], None] | None, total: int):
        self.report, self.total, self.done = report, total, -1

    def at(self, fraction: float) -> None:
        done = min(int(self.total * fraction), self.total - 1) if fraction < 1 else self.total
        if self.report and done > self.done:
            self.done = done
            self.report(done, self.total)


class _Sketch:
    """Every item's signs against the hyperplanes, packed: words[n, w] holds item n's bits 64·w.. 64·w + 63."""

    def __init__(self, words: np.ndarray, bits: int, tables: int, dims: int):
        self.words, self.bits, self.tables, self.dims = words, bits, tables, dims

    @classmethod
    def of(
        cls, batches: Batches, bits: int, tables: int, seen: Callable[[int], None]
    ) -> tuple[list[str], _Sketch | None]:
        """Pass 1: the items' ids and their sketch (None when there are no items)."""
        ids: list[str] = []
        parts: list[np.ndarray] = []
        planes = None
        width = max(bits * tables, SKETCH)
        width += -width % 64  # whole words
        for batch_ids, vectors in batches():
            if not len(batch_ids):
                continue
            if planes is None:  # the same hyperplanes every run: results are deterministic
                rng = np.random.default_rng(SEED)
                planes = rng.standard_normal((vectors.shape[1], width), dtype=np.float32)
            vectors = np.asarray(vectors, dtype=np.float32)
            for at in range(0, len(vectors), HASHED):
                signs = vectors[at : at + HASHED] @ planes > 0
                parts.append(np.packbits(signs, axis=1, bitorder="little"))
            ids.extend(batch_ids)
            seen(len(ids))
        if planes is None:
            return ids, None
        words = np.concatenate(parts).view("<u8")
        return ids, cls(words, bits, tables, planes.shape[0])

    def code(self, table: int) -> np.ndarray:
        """Every item's k-bit bucket code in `table`."""
        start = table * self.bits
        word, shift = divmod(start, 64)
        code = self.words[:, word] >> np.uint64(shift)
        if shift + self.bits > 64:
            code = code | (self.words[:, word + 1] << np.uint64(64 - shift))
        return code & np.uint64((1 << self.bits) - 1)

    def distance(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Hamming distances between the sketches of items i and j."""
        differ = self.words.take(i, axis=0)
        differ ^= self.words.take(j, axis=0)
        # Summed by a matrix product: the counts are small integers, exact in float32, and it is fastest.
        return np.bitwise_count(differ).astype(np.float32) @ np.ones(self.words.shape[1], dtype=np.float32)

    def pairs(self, table: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Positions (i, j) sharing a bucket of `table`: all pairs of a small bucket, WINDOW neighbours
        (in the order of the next table's code) in a large one; PAIRS at a time."""
        code = self.code(table)
        order = np.argsort((code << np.uint64(32)) | self.code((table + 1) % self.tables))
        code = code[order]
        starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
        sizes = np.diff(np.r_[starts, code.size])
        end = np.repeat(starts + sizes, sizes)
        active = np.flatnonzero(end - np.arange(code.size) > 1)
        for step in range(1, WINDOW + 1):
            active = active[active + step < end[active]]
            for at in range(0, active.size, PAIRS):
                chunk = active[at : at + PAIRS]
                yield order[chunk], order[chunk + step]


class _Groups:
    """Union-find by size over item positions; a group keeps the lowest similarity that joined it."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int32)
        self.size = np.ones(n, dtype=np.int32)
        self.lowest: dict[int, float] = {}

    def roots(self, items: np.ndarray) -> np.ndarray:
        found = self.parent[items]
        while True:  # union by size keeps trees under log2(n) deep
            up = self.parent[found]
            if np.array_equal(up, found):
                return found
            found = up

    def find(self, item: int) -> int:
        parent = self.parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = int(parent[item])
        return item

    def join(self, a: int, b: int, similarity: float) -> None:
        a, b = self.find(a), self.find(b)
        if a == b:
            return
        if self.size[a] < self.size[b]:
            a, b = b, a
        self.parent[b] = a
        self.size[a] += self.size[b]
        self.lowest[a] = min(self.lowest.get(a, 1.0), self.lowest.pop(b, 1.0), similarity)


def _blocks(candidate: np.ndarray, per_block: int) -> np.ndarray:
    """Each item's block of candidates (-1 for none): one block if their vectors fit the budget, else
    blocks of half of it, since a pass holds two."""
    members = np.flatnonzero(candidate)
    per_block = max(1, per_block)
    if members.size > per_block:
        per_block = max(1, per_block // 2)
    block = np.full(candidate.size, -1, dtype=np.int32)
    block[members] = np.arange(members.size) // per_block
    return block


def _gather(batches: Batches, ids: list[str], block: np.ndarray, a: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """One pass: the vectors of blocks a and b, and each item's row among them (-1 if none)."""
    wanted = (block == a) | (block == b)
    row = np.full(block.size, -1, dtype=np.int32)
    row[wanted] = np.arange(int(wanted.sum()))
    vectors = None
    at = 0
    for batch_ids, batch in batches():
        if not len(batch_ids):
            continue
        if vectors is None:
            vectors = np.empty((int(wanted.sum()), batch.shape[1]), dtype=np.float32)
        if list(batch_ids) != ids[at : at + len(batch_ids)]:
            raise RuntimeError("the set's vectors changed during the pass; start it again")
        take = np.flatnonzero(wanted[at : at + len(batch_ids)])
        vectors[row[at + take]] = batch[take]
        at += len(batch_ids)
    if vectors is None or at != len(ids):
        raise RuntimeError("the set's vectors changed during the pass; start it again")
    return row, vectors


def _check(vectors: np.ndarray, row: np.ndarray, i: np.ndarray, j: np.ndarray, threshold: float, groups) -> None:
    """Join the pairs (i, j) whose cosine is at least the threshold, a bounded slice of vectors at a time."""
    step = max(256, WORKING // (8 * vectors.shape[1]))
    for at in range(0, i.size, step):
        si, sj = i[at : at + step], j[at : at + step]
        similar = np.einsum("ij,ij->i", vectors[row[si]], vectors[row[sj]])
        for x, y, s in zip(si.tolist(), sj.tolist(), similar.tolist(), strict=True):
            if s >= threshold - TOLERANCE:
                groups.join(x, y, min(s, 1.0))


def _listed(ids: list[str], groups: _Groups) -> list[Group]:
    """The groups of two or more, ids sorted, largest first, then by first id."""
    roots = groups.roots(np.arange(len(ids)))
    grouped = np.flatnonzero(np.bincount(roots, minlength=len(ids))[roots] > 1)
    grouped = grouped[np.argsort(roots[grouped], kind="stable")]
    found = []
    for members in np.split(grouped, np.flatnonzero(np.diff(roots[grouped])) + 1):
        if members.size:
            found.append((sorted(ids[m] for m in members.tolist()), groups.lowest[int(roots[members[0]])]))
    found.sort(key=lambda group: (-len(group[0]), group[0][0]))
    return found
