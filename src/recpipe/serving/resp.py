"""Bulk HSET commands in RESP, built with numpy from an Arrow batch of lists.

An entry's RESP record is ``$<len>\\r\\n<field>\\r\\n$<len>\\r\\n<R1 value>\\r\\n``. Entries whose field length, list
length and id width agree have records of one width, so a group of them is one (entries x width) byte matrix
filled column block by column block: no Python work per entry except its CRC32. Per bucket, the command is a
header plus slices of those matrices (the order of fields in an HSET does not matter).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recpipe.serving import encoding

CRLF = b"\r\n"


def record(field: bytes, value: bytes) -> bytes:
    """One entry's RESP record (what the checksum covers)."""
    return b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(field), field, len(value), value)


def entry_checksum(field: bytes, value: bytes) -> int:
    """CRC32 of an entry's record; a surface's checksum is the sum over entries (mod 2**64), order independent."""
    return zlib.crc32(record(field, value))


@dataclass(frozen=True)
class RecordGroup:
    """Records of equal width: record i of ``data`` is for bucket ``buckets[i]`` (ascending)."""

    buckets: np.ndarray
    width: int
    value_bytes: int
    data: memoryview

    def span(self, bucket: int) -> tuple[int, int]:
        return int(np.searchsorted(self.buckets, bucket, "left")), int(np.searchsorted(self.buckets, bucket, "right"))

    def checksum(self) -> int:
        w, data = self.width, self.data
        return sum(zlib.crc32(data[i : i + w]) for i in range(0, len(data), w))


@dataclass(frozen=True)
class EncodedBatch:
    groups: list[RecordGroup]
    buckets: np.ndarray  # distinct buckets of the batch, ascending

    @property
    def entries(self) -> int:
        return sum(len(g.buckets) for g in self.groups)

    @property
    def value_bytes(self) -> int:
        return sum(len(g.buckets) * g.value_bytes for g in self.groups)

    def checksum(self) -> int:
        return sum(g.checksum() for g in self.groups) % 2**64

    def hsets(self, key_of: Callable[[int], bytes], max_fields: int) -> Iterator[tuple[int, bytes]]:
        """``(fields, command)``: one multi-field HSET per bucket, split at ``max_fields`` fields."""
        for bucket in self.buckets:
            key, pieces, count = key_of(int(bucket)), [], 0
            for group in self.groups:
                lo, hi = group.span(bucket)
                while lo < hi:
                    take = min(hi - lo, max_fields - count)
                    pieces.append(group.data[lo * group.width : (lo + take) * group.width])
                    count, lo = count + take, lo + take
                    if count == max_fields:
                        yield count, _hset(key, count, pieces)
                        pieces, count = [], 0
            if count:
                yield count, _hset(key, count, pieces)


def _hset(key: bytes, fields: int, pieces: list[memoryview]) -> bytes:
    return b"*%d\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n" % (2 + 2 * fields, len(key), key) + b"".join(pieces)


def records_of(batch: pa.RecordBatch, buckets: int) -> EncodedBatch:
    """Records of a batch with ``entity`` (string), ``item_ids`` and ``scores`` (lists), grouped by width."""
    entity = batch.column("entity").cast(pa.binary())
    name_offsets = np.frombuffer(entity.buffers()[1], dtype=np.int32)[entity.offset : entity.offset + len(entity) + 1]
    name_data = np.frombuffer(entity.buffers()[2], dtype=np.uint8) if len(entity) else np.zeros(0, np.uint8)
    name_lengths = np.diff(name_offsets)
    lengths = pc.list_value_length(batch.column("item_ids")).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    ids = pc.list_flatten(batch.column("item_ids")).to_numpy(zero_copy_only=False).astype(np.int64)
    scores = pc.list_flatten(batch.column("scores")).to_numpy(zero_copy_only=False).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    id_width = encoding.id_widths(offsets, ids)
    row_bucket = (pc.cast(entity.cast(pa.string()), pa.int64()).to_numpy() % buckets) if buckets > 1 else np.zeros(len(entity), np.int64)

    group_key = (name_lengths.astype(np.int64) * (encoding.MAX_ITEMS + 1) + lengths) * 16 + id_width
    order = np.lexsort((row_bucket, group_key))  # by group, then bucket
    cuts = np.flatnonzero(np.diff(group_key[order])) + 1
    groups = []
    for rows in np.split(order, cuts) if len(order) else []:
        name_length, n_items, width = int(name_lengths[rows[0]]), int(lengths[rows[0]]), int(id_width[rows[0]])
        value_length = encoding.HEADER.size + (width + 4) * n_items
        head = b"$%d\r\n" % name_length
        middle = b"\r\n$%d\r\n" % value_length
        record_width = len(head) + name_length + len(middle) + value_length + len(CRLF)
        block = np.empty((len(rows), record_width), dtype=np.uint8)
        at = 0
        for part, size in ((head, len(head)), (None, name_length), (middle, len(middle))):
            if part is None:
                block[:, at : at + size] = name_data[name_offsets[rows][:, None] + np.arange(size)]
            else:
                block[:, at : at + size] = np.frombuffer(part, dtype=np.uint8)
            at += size
        item_index = offsets[rows][:, None] + np.arange(n_items)
        encoding.encode_into(block[:, at : at + value_length], ids[item_index], scores[item_index], width)
        block[:, at + value_length :] = np.frombuffer(CRLF, dtype=np.uint8)
        groups.append(RecordGroup(row_bucket[rows], record_width, value_length, memoryview(block).cast("B")))
    return EncodedBatch(groups, np.unique(row_bucket))
