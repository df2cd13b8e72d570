"""Value encoding of a ranked list: compact, and decodable in any language with standard tools.

Format ``R1`` (little-endian throughout):

    offset 0   2 bytes   ASCII "R1"
    offset 2   1 byte    id width in bytes: 4 (uint32) or 8 (int64)
    offset 3   2 bytes   n, the number of items (uint16)
    offset 5   n * w     item ids
    then       n * 4     scores (float32), best first

200 items take 5 + 200 * 8 = 1,605 bytes with 32-bit ids (JSON: about 3.9 KB). Python:
``struct.unpack_from('<2sBH', v)``; JavaScript: ``new DataView(buf)``; Go: ``binary.LittleEndian``.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

MAGIC = b"R1"
HEADER = struct.Struct("<2sBH")
MAX_ITEMS = 65_535


class EncodingError(ValueError):
    """A value is not in the documented format."""


def encode(item_ids: np.ndarray | list[int], scores: np.ndarray | list[float]) -> bytes:
    """Encode one ranked list (``encode_arrow`` of a single row); 32-bit ids when every id fits, else 64-bit."""
    ids = np.asarray(item_ids, dtype=np.int64)
    values = np.asarray(scores, dtype=np.float32)
    if ids.shape != values.shape or ids.ndim != 1:
        raise EncodingError(f"ids and scores must be 1-d and of equal length, got {ids.shape} and {values.shape}")
    return encode_arrow(pa.array([ids], pa.list_(pa.int64())), pa.array([values], pa.list_(pa.float32())))[0].as_py()


def id_widths(offsets: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Per list (row i is ``ids[offsets[i]:offsets[i+1]]``) the id width: 4 when every id fits 32 bits, else 8."""
    lengths = np.diff(offsets)
    widths = np.full(len(lengths), 4, dtype=np.int64)
    nonempty = lengths > 0
    if nonempty.any():
        widths[nonempty] = np.where(np.maximum.reduceat(ids, offsets[:-1][nonempty]) >= 2**32, 8, 4)
    return widths


def encode_into(out: np.ndarray, ids: np.ndarray, scores: np.ndarray, width: int) -> None:
    """Write the R1 values of equal-length lists (rows of ``ids`` and ``scores``) into the rows of ``out``, a
    (lists x value length) uint8 view."""
    rows, n = ids.shape
    out[:, : HEADER.size] = np.frombuffer(HEADER.pack(MAGIC, width, n), dtype=np.uint8)
    if n:
        body = HEADER.size + width * n
        out[:, HEADER.size : body] = ids.astype("<u4" if width == 4 else "<i8").view(np.uint8).reshape(rows, -1)
        out[:, body:] = scores.astype("<f4", copy=False).view(np.uint8).reshape(rows, -1)


def encode_arrow(item_ids: pa.Array | pa.ChunkedArray, scores: pa.Array | pa.ChunkedArray) -> pa.BinaryArray:
    """``encode`` of every row of two Arrow list columns at once, as an Arrow binary column (null lists stay null).

    Lists of one length and id width are written as one (lists x value length) byte matrix; the matrices are laid
    end to end and one Arrow ``take`` restores the row order, so no Python work runs per list."""
    item_ids, scores = _single_chunk(item_ids), _single_chunk(scores)
    lengths = pc.list_value_length(item_ids).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    ids = pc.list_flatten(item_ids).to_numpy(zero_copy_only=False).astype(np.int64, copy=False)  # respects slicing
    values = pc.list_flatten(scores).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    if len(ids) != len(values) or not np.array_equal(
        lengths, pc.list_value_length(scores).fill_null(0).to_numpy(zero_copy_only=False)
    ):
        raise EncodingError("item_ids and scores must hold lists of equal length, row by row")
    if len(ids) and ids.min() < 0:
        raise EncodingError("item ids must be >= 0")
    if len(lengths) and lengths.max() > MAX_ITEMS:
        raise EncodingError(f"a list holds at most {MAX_ITEMS} items, got {int(lengths.max())}")
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    widths = id_widths(offsets, ids)
    group = lengths * 16 + widths
    order = np.argsort(group, kind="stable")
    cuts = np.flatnonzero(np.diff(group[order])) + 1
    blocks = []
    for rows in np.split(order, cuts) if len(order) else []:
        n, width = int(lengths[rows[0]]), int(widths[rows[0]])
        block = np.empty((len(rows), HEADER.size + (width + 4) * n), dtype=np.uint8)
        if len(rows) == len(lengths):  # one shape for the whole batch (the usual case): the flat arrays are the matrix
            encode_into(block, ids.reshape(len(rows), n), values.reshape(len(rows), n), width)
        else:
            index = offsets[rows][:, None] + np.arange(n)
            encode_into(block, ids[index], values[index], width)
        blocks.append(block.ravel())
    sizes = HEADER.size + (widths[order] + 4) * lengths[order]
    value_offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int32)
    data = blocks[0] if len(blocks) == 1 else np.concatenate(blocks) if blocks else np.zeros(0, np.uint8)
    in_group_order = pa.Array.from_buffers(
        pa.binary(), len(order), [None, pa.py_buffer(value_offsets), pa.py_buffer(data)]
    )
    encoded = in_group_order if _is_identity(order) else in_group_order.take(pa.array(np.argsort(order)))
    return pc.if_else(item_ids.is_null(), pa.scalar(None, pa.binary()), encoded) if item_ids.null_count else encoded


def matches_arrow(
    item_ids: pa.Array | pa.ChunkedArray, scores: pa.Array | pa.ChunkedArray, encoded: pa.Array | pa.ChunkedArray
) -> pa.BooleanArray:
    """Row by row, whether ``encoded`` is exactly the R1 value of the row's lists: the bytes Redis will serve say
    what the arrays say. A missing value, or lists that cannot be encoded (misaligned, negative ids), do not match."""
    encoded = _single_chunk(encoded)
    try:
        expected = encode_arrow(item_ids, scores)
    except EncodingError:  # a malformed row in the batch: judge each row on its own
        ids, values = _single_chunk(item_ids).to_pylist(), _single_chunk(scores).to_pylist()
        return pa.array([_encodes_to(i, v, e) for i, v, e in zip(ids, values, encoded.to_pylist())], pa.bool_())
    return pc.fill_null(pc.equal(expected, encoded), False)


def _encodes_to(ids: list[int] | None, scores: list[float] | None, value: bytes | None) -> bool:
    if ids is None or scores is None or value is None:
        return False
    try:
        return encode(ids, scores) == value
    except EncodingError:
        return False


def _single_chunk(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _is_identity(order: np.ndarray) -> bool:
    return bool(np.array_equal(order, np.arange(len(order))))


def decode(value: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(item ids as int64, scores as float32) from an ``R1`` value."""
    if len(value) < HEADER.size:
        raise EncodingError(f"value of {len(value)} bytes is shorter than the {HEADER.size}-byte header")
    magic, width, n = HEADER.unpack_from(value)
    if magic != MAGIC or width not in (4, 8):
        raise EncodingError(f"not an R1 value (magic {magic!r}, id width {width})")
    expected = HEADER.size + n * (width + 4)
    if len(value) != expected:
        raise EncodingError(f"R1 value of {len(value)} bytes, expected {expected} for {n} items")
    ids = np.frombuffer(value, dtype="<u4" if width == 4 else "<i8", count=n, offset=HEADER.size).astype(np.int64)
    scores = np.frombuffer(value, dtype="<f4", count=n, offset=HEADER.size + n * width).astype(np.float32)
    return ids, scores


def decode_many(values: list[bytes | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``decode`` of many values at once (None: an empty list): (row offsets, ids, scores), rows end to end.
    Values of one length and id width are read as one byte matrix, so no Python work runs per value."""
    sizes = np.array([len(v) if v is not None else 0 for v in values], dtype=np.int64)
    data = np.frombuffer(b"".join(v for v in values if v is not None), dtype=np.uint8)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    present = sizes > 0
    if (sizes[present] < HEADER.size).any():
        raise EncodingError("a value is shorter than the R1 header")
    head = starts[present]
    if len(head) and not ((data[head] == MAGIC[0]) & (data[head + 1] == MAGIC[1])).all():
        raise EncodingError("a value does not start with the R1 magic")
    widths = np.zeros(len(values), np.int64)
    counts = np.zeros(len(values), np.int64)
    widths[present] = data[head + 2]
    counts[present] = data[head + 3].astype(np.int64) | (data[head + 4].astype(np.int64) << 8)
    if not np.isin(widths[present], (4, 8)).all() or (sizes != HEADER.size + counts * (widths + 4))[present].any():
        raise EncodingError("a value's id width or length does not match its header")
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    ids = np.empty(int(offsets[-1]), np.int64)
    scores = np.empty(int(offsets[-1]), np.float32)
    group = counts * 16 + widths
    for key in np.unique(group[present]):
        rows = np.flatnonzero(present & (group == key))
        n, width = int(counts[rows[0]]), int(widths[rows[0]])
        size = HEADER.size + n * (width + 4)
        if len(rows) == len(values):  # one shape for every value (the usual case): the bytes are the matrix
            block = data.reshape(len(rows), size)
        else:
            block = data[starts[rows][:, None] + np.arange(size)]
        id_type = "<u4" if width == 4 else "<i8"
        found_ids = np.ascontiguousarray(block[:, HEADER.size : HEADER.size + n * width]).view(id_type)
        found_scores = np.ascontiguousarray(block[:, HEADER.size + n * width :]).view("<f4")
        if len(rows) == len(values):
            ids[:], scores[:] = found_ids.ravel(), found_scores.ravel()
        else:
            out = offsets[rows][:, None] + np.arange(n)
            ids[out], scores[out] = found_ids, found_scores
    return offsets, ids, scores


def size_report(item_ids: list[int], scores: list[float]) -> dict[str, int]:
    """Bytes of one list in candidate encodings (the contract explains the choice with these numbers)."""
    return {
        "R1": len(encode(item_ids, scores)),
        "json": len(
            json.dumps({"item_ids": [int(i) for i in item_ids], "scores": [round(float(s), 6) for s in scores]})
        ),
        "csv": len(",".join(f"{int(i)}:{float(s):.6g}" for i, s in zip(item_ids, scores))),
    }
