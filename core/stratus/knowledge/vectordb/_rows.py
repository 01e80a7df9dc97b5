"""The embedded store's vectors in memory: unit-length float32 rows in fixed blocks (a write touches only its
rows, growing never copies the collection), their SQLite rowids, a sign-bit code per row for the approximate
search of large collections, and the filter values read so far, one small integer per row and key.

Search: exact (one matrix product per block); or, given a number of candidates, the rows' Hamming distances to
the query's sign bits (48 bytes a row at 384 floats, stored word by word so a distance is six passes over
contiguous memory) pick that many rows, and those are scored exactly in float32:
the ranking is exact among the candidates, so recall is lost only when a true neighbour's sign bits are far.
The bits are signs about the collection's mean, not about zero: real embeddings share a common direction (two
unrelated sentences score well above 0), and about zero most of their bits would agree for every row. The mean
is taken again each time the collection has doubled since (from CENTRE_FROM rows), and every code re-made.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["BLOCK", "Rows"]

BLOCK = 1 << 18
"""Rows per block: 384 MiB of float32 at 384 dimensions, of which only the pages written are resident (numpy
asks for zeroed memory), so a collection below it is one matrix product, as before the blocks."""

CENTRE_FROM = 4096
"""Rows before the codes are taken about the collection's mean (below it, about zero): a mean of a few rows
would say more about them than about the collection."""

_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint8]:
    """Set bits per 64-bit word (numpy 2's `bitwise_count`, or a byte table on numpy 1)."""
    count = getattr(np, "bitwise_count", None)
    if count is not None:
        return count(words)
    return _BITS[words.view(np.uint8)].reshape(*words.shape, 8).sum(axis=-1, dtype=np.uint8)


def _grown(array: npt.NDArray[Any], size: int, fill: Any = 0) -> npt.NDArray[Any]:
    """`array` (last axis the rows) with room for `size` rows: the same array when it has it, else a copy
    half as large again. Only the small per-row arrays grow this way (8 bytes a row, not 1.5 KiB)."""
    if array.shape[-1] >= size:
        return array
    bigger = np.full((*array.shape[:-1], max(size, array.shape[-1] * 3 // 2, 1024)), fill, dtype=array.dtype)
    bigger[..., : array.shape[-1]] = array
    return bigger


class _Column:
    """One filter key's value per row, as an index into the distinct values (-1: none or deleted). Values
    are keyed as SQL compares them: 1, 1.0 and true are one value."""

    def __init__(self) -> None:
        self.ids: dict[Any, int] = {}
        self.rows = np.full(0, -1, dtype=np.int32)

    def set(self, positions: npt.NDArray[np.int64], values: list[Any], size: int) -> None:
        self.rows = _grown(self.rows, size, -1)
        codes = np.asarray([-1 if v is None else self.ids.setdefault(v, len(self.ids)) for v in values], np.int32)
        held = positions >= 0  # a row another connection added since the vectors were read is not held
        self.rows[positions[held]] = codes[held]

    def mask(self, values: list[Any], size: int) -> npt.NDArray[np.bool_]:
        wanted = [self.ids[v] for v in values if v in self.ids]
        self.rows = _grown(self.rows, size, -1)  # rows appended since the last values read have none
        rows = self.rows[:size]
        if len(wanted) == 1:
            return rows == wanted[0]
        return np.isin(rows, np.asarray(wanted, dtype=np.int32))


class Rows:
    """The live vectors of one collection, by position; rowids ascend with position (SQLite gives a new row
    the largest rowid plus one), so a rowid's position is a binary search."""

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.words = (dimensions + 63) // 64
        self.size = 0  # positions in use, deleted ones included
        self.dead = 0
        self.blocks: list[npt.NDArray[np.float32]] = []
        self.rowids = np.zeros(0, dtype=np.int64)
        self.live = np.zeros(0, dtype=np.bool_)
        self.codes = np.zeros((self.words, 0), dtype=np.uint64)  # word-major: one contiguous row per word
        self.centre = np.zeros(dimensions, dtype=np.float32)  # what the sign bits are taken about
        self.centred_at = 0  # live rows when the centre was last taken
        self.columns: dict[str, _Column] = {}

    @property
    def count(self) -> int:
        return self.size - self.dead

    def _sign_codes(self, unit: npt.NDArray[np.float32]) -> npt.NDArray[np.uint64]:
        bits = np.packbits(unit > self.centre, axis=1)
        padded = np.zeros((len(unit), self.words * 8), dtype=np.uint8)
        padded[:, : bits.shape[1]] = bits
        return padded.view(np.uint64).T

    def _put(self, positions: npt.NDArray[np.int64], unit: npt.NDArray[np.float32]) -> None:
        for block in np.unique(positions // BLOCK):
            here = positions // BLOCK == block
            while len(self.blocks) <= block:
                self.blocks.append(np.zeros((BLOCK, self.dimensions), dtype=np.float32))
            self.blocks[int(block)][positions[here] % BLOCK] = unit[here]
        self.codes[:, positions] = self._sign_codes(unit)
        self.live[positions] = True

    def positions(self, rowids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Where each rowid sits, -1 where it is not held."""
        at = np.searchsorted(self.rowids[: self.size], rowids)
        found = np.minimum(at, max(self.size - 1, 0))
        held = (at < self.size) & (self.rowids[found] == rowids) if self.size else np.zeros(len(rowids), bool)
        return np.where(held, found, -1).astype(np.int64)

    def write(self, rowids: npt.NDArray[np.int64], unit: npt.NDArray[np.float32]) -> bool:
        """Insert or replace rows by rowid. False (nothing changed) if a new rowid is not past the last one,
        which a reload from the table must then place."""
        order = np.argsort(rowids, kind="stable")
        rowids, unit = rowids[order], unit[order]
        at = self.positions(rowids)
        new = at < 0
        last = self.rowids[self.size - 1] if self.size else np.iinfo(np.int64).min
        if new.any() and (rowids[new][0] <= last or len(np.unique(rowids[new])) != int(new.sum())):
            return False
        self.dead -= int((~self.live[at[~new]]).sum())
        start, added = self.size, int(new.sum())
        end = start + added
        self.rowids = _grown(self.rowids, end)
        self.live = _grown(self.live, end, False)
        self.codes = _grown(self.codes, end)
        self.rowids[start:end] = rowids[new]
        at[new] = np.arange(start, end)
        self.size = end
        self._put(at, unit)
        if self.count >= max(CENTRE_FROM, 2 * self.centred_at):
            self._recentre()
        return True

    def _recentre(self) -> None:
        """Take the live rows' mean as the centre and re-make every code about it."""
        total = np.zeros(self.dimensions, dtype=np.float64)
        for block, rows in enumerate(self.blocks):
            lo, hi = block * BLOCK, min((block + 1) * BLOCK, self.size)
            if hi > lo:
                total += rows[: hi - lo][self.live[lo:hi]].sum(axis=0, dtype=np.float64)
        self.centre = (total / max(self.count, 1)).astype(np.float32)
        self.centred_at = self.count
        for block, rows in enumerate(self.blocks):
            lo, hi = block * BLOCK, min((block + 1) * BLOCK, self.size)
            if hi > lo:
                self.codes[:, lo:hi] = self._sign_codes(rows[: hi - lo])

    def remove(self, rowids: npt.NDArray[np.int64]) -> None:
        at = self.positions(rowids)
        at = at[at >= 0]
        at = at[self.live[at]]
        self.live[at] = False
        self.dead += len(at)
        for column in self.columns.values():
            column.rows[at] = -1

    def set_column(self, key: str, rowids: npt.NDArray[np.int64], values: list[Any]) -> None:
        """Record `key`'s value of the given rows (all rows when the column is new)."""
        self.columns.setdefault(key, _Column()).set(self.positions(rowids), values, self.size)

    # --- search ---------------------------------------------------------------------------------------

    def matching(self, filters: dict[str, list[Any]]) -> npt.NDArray[np.int64]:
        """The live positions whose every filter key has one of its values (columns must be loaded)."""
        keep = self.live[: self.size].copy()
        for key, values in filters.items():
            keep &= self.columns[key].mask(values, self.size)
        return np.flatnonzero(keep)

    def _scores(self, query: npt.NDArray[np.float32], positions: npt.NDArray[np.int64]) -> npt.NDArray[np.float32]:
        """Exact scores of `positions` (ascending), gathered block by block so the copy stays small."""
        scores = np.empty(len(positions), dtype=np.float32)
        blocks = positions // BLOCK
        bounds = np.searchsorted(blocks, np.arange(len(self.blocks) + 1))
        for block, (lo, hi) in enumerate(itertools.pairwise(bounds.tolist())):
            if hi > lo:
                scores[lo:hi] = self.blocks[block][positions[lo:hi] % BLOCK] @ query
        return scores

    def _all_scores(self, query: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        scores = np.empty(self.size, dtype=np.float32)
        for block, rows in enumerate(self.blocks):
            lo = block * BLOCK
            hi = min(lo + BLOCK, self.size)
            if hi > lo:
                scores[lo:hi] = rows[: hi - lo] @ query
        if self.dead:
            scores[~self.live[: self.size]] = -np.inf
        return scores

    def _near(self, query: npt.NDArray[np.float32], positions: npt.NDArray[np.int64] | None, take: int) -> Any:
        """Up to `take` positions whose sign bits are nearest the query's (ties at the cut all kept)."""
        code = self._sign_codes(query[None, :])[:, 0]
        codes = self.codes[:, : self.size] if positions is None else self.codes[:, positions]
        distance = _popcount(codes[0] ^ code[0]).astype(np.uint16)
        for word in range(1, self.words):
            distance += _popcount(codes[word] ^ code[word])
        if positions is None and self.dead:
            distance[~self.live[: self.size]] = self.dimensions + 1
        counts = np.cumsum(np.bincount(distance, minlength=self.dimensions + 2))
        cut = int(np.searchsorted(counts, min(take, len(distance))))
        near = np.flatnonzero(distance <= min(cut, self.dimensions))
        return near if positions is None else positions[near]

    def search(
        self,
        vector: npt.NDArray[np.float32],
        positions: npt.NDArray[np.int64] | None,
        limit: int,
        *,
        candidates: int | None = None,
    ) -> list[tuple[int, float]]:
        """The best `limit` (rowid, cosine) among `positions` (all live rows when None), best first. With
        `candidates`, more rows than that are first narrowed to about that many by their sign bits."""
        scored = self.count if positions is None else len(positions)
        if scored == 0:
            return []
        if candidates is not None and scored > max(candidates, limit):
            positions = self._near(vector, positions, max(candidates, limit))
        if positions is None:
            scores = self._all_scores(vector)
            positions = np.arange(self.size)
        else:
            scores = self._scores(vector, positions)
        k = min(limit, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self.rowids[positions[i]]), float(scores[i])) for i in top if np.isfinite(scores[i])]
