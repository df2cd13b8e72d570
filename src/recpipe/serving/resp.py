"""Bulk HSET commands in RESP, built with Arrow compute from a batch of (entity, encoded_list) rows.

An entry's RESP record is ``$<len>\\r\\n<field>\\r\\n$<len>\\r\\n<R1 value>\\r\\n``. The values arrive already encoded
(the candidates job writes them next to the lists), so one element-wise join in Arrow builds every record and
rows sorted by bucket make each bucket's records one contiguous slice of the join's data buffer: the per-bucket
HSET is a header plus that slice. Only the per-entry CRC32 runs in Python.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CRLF = b"\r\n"


def record(field: bytes, value: bytes) -> bytes:
    """One entry's RESP record (what the checksum covers)."""
    return b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(field), field, len(value), value)


def command(*words: str) -> bytes:
    """One command in RESP (``*<n>`` then each word as a bulk string): what pipelines of reads send packed."""
    return b"".join([b"*%d\r\n" % len(words), *(b"$%d\r\n%s\r\n" % (len(w), w.encode()) for w in words)])


def entry_checksum(field: bytes, value: bytes) -> int:
    """CRC32 of an entry's record; a surface's checksum is the sum over entries (mod 2**64), order independent."""
    return zlib.crc32(record(field, value))


@dataclass(frozen=True)
class EncodedBatch:
    """Records of a batch in bucket order: record i spans ``data[offsets[i]:offsets[i + 1]]``, bucket ``buckets[i]``."""

    buckets: np.ndarray
    offsets: np.ndarray
    data: memoryview
    value_bytes: int

    @property
    def entries(self) -> int:
        return len(self.buckets)

    def checksum(self) -> int:
        data, bounds = self.data, self.offsets.tolist()
        return sum(zlib.crc32(data[a:b]) for a, b in itertools.pairwise(bounds)) % 2**64

    def hsets(self, key_of: Callable[[int], bytes], max_fields: int) -> Iterator[tuple[int, bytes]]:
        """``(fields, command)``: one multi-field HSET per bucket, split at ``max_fields`` fields."""
        starts = np.flatnonzero(np.diff(self.buckets, prepend=-1)).tolist() + [len(self.buckets)]
        for lo, hi in itertools.pairwise(starts):
            key = key_of(int(self.buckets[lo]))
            for at in range(lo, hi, max_fields):
                end = min(at + max_fields, hi)
                head = b"*%d\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n" % (2 + 2 * (end - at), len(key), key)
                yield end - at, head + self.data[self.offsets[at] : self.offsets[end]]


def _decimal(lengths: pa.Array) -> pa.Array:
    return lengths.cast(pa.string()).cast(pa.binary())


def records_of(batch: pa.RecordBatch, buckets: int) -> EncodedBatch:
    """Records of a batch with ``entity`` (decimal text, or ``{id}:{variant}``, unless ``buckets`` is 1) and
    ``encoded_list`` (binary); an entity's bucket is ``keys.bucket_of``."""
    entity = batch.column("entity").cast(pa.binary())
    value = batch.column("encoded_list")
    if value.null_count or entity.null_count:
        raise ValueError("publish input has null entities or encoded lists")
    bucket = (
        (pc.cast(pc.list_element(pc.split_pattern(entity.cast(pa.string()), ":"), 0), pa.int64()).to_numpy() % buckets)
        if buckets > 1
        else np.zeros(len(entity), np.int64)
    )
    if np.any(np.diff(bucket) < 0):
        order = np.argsort(bucket, kind="stable")
        bucket, entity, value = bucket[order], entity.take(order), value.take(order)
    joined = pc.binary_join_element_wise(
        b"$",
        _decimal(pc.binary_length(entity)),
        CRLF,
        entity,
        b"\r\n$",
        _decimal(pc.binary_length(value)),
        CRLF,
        value,
        CRLF,
        b"",
    )
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32)[
        joined.offset : joined.offset + len(joined) + 1
    ].astype(np.int64)
    data = memoryview(joined.buffers()[2]) if len(joined) else memoryview(b"")
    return EncodedBatch(bucket, offsets, data, int(pc.sum(pc.binary_length(value)).as_py() or 0))
