"""The key contract and the value encoding, byte for byte, without a server."""

import itertools
import struct
import zlib

import numpy as np
import pyarrow as pa
import pytest

from recpipe.serving import encoding, keys, resp


def test_key_names():
    assert keys.pointer_key("foryou") == "recpipe:foryou:current"
    assert keys.versions_key("similar") == "recpipe:similar:versions"
    assert keys.manifest_key("fallback", "20261101-ab12") == "recpipe:fallback:manifest:20261101-ab12"
    assert keys.bucket_key("foryou", "v1", 7) == "recpipe:foryou:v1:7"
    assert keys.entry_location("foryou", "v1", 2049, 1024) == ("recpipe:foryou:v1:1", "2049")
    assert keys.entry_location("fallback", "v1", "country=FR", 1) == ("recpipe:fallback:v1:0", "country=FR")
    assert keys.UNAVAILABLE_KEY == "recpipe:unavailable"


def test_bad_surface_and_version_are_rejected():
    with pytest.raises(ValueError, match="unknown surface 'home'"):
        keys.pointer_key("home")
    with pytest.raises(ValueError, match="must not contain"):
        keys.bucket_key("foryou", "a:b", 0)


def test_encoding_is_byte_exact():
    value = encoding.encode([7, 300], [0.5, 0.25])
    assert value == b"R1" + bytes([4]) + struct.pack("<H", 2) + struct.pack("<II", 7, 300) + struct.pack(
        "<ff", 0.5, 0.25
    )
    assert value.hex() == "5231040200" + "07000000" + "2c010000" + "0000003f" + "0000803e"


def test_wide_ids_switch_to_64_bit():
    value = encoding.encode([2**40], [1.0])
    assert value[2] == 8 and len(value) == 5 + 8 + 4
    ids, scores = encoding.decode(value)
    assert ids.tolist() == [2**40] and scores.tolist() == [1.0]


def test_round_trip_and_empty_list():
    rng = np.random.default_rng(0)
    ids, scores = rng.integers(0, 10**6, 200), rng.random(200).astype(np.float32)
    out_ids, out_scores = encoding.decode(encoding.encode(ids, scores))
    np.testing.assert_array_equal(out_ids, ids)
    np.testing.assert_array_equal(out_scores, scores)
    assert encoding.decode(encoding.encode([], []))[0].size == 0


@pytest.mark.parametrize("bad", [b"", b"R2\x04\x00\x00", b"R1\x04\x02\x00\x01"])
def test_malformed_values_are_rejected(bad):
    with pytest.raises(encoding.EncodingError):
        encoding.decode(bad)


def test_entry_checksum_covers_field_and_value():
    assert resp.record(b"12", b"R1x") == b"$2\r\n12\r\n$3\r\nR1x\r\n"
    assert resp.entry_checksum(b"1", b"x") == zlib.crc32(b"$1\r\n1\r\n$1\r\nx\r\n")
    assert resp.entry_checksum(b"1", b"x") != resp.entry_checksum(b"1", b"z")
    assert resp.entry_checksum(b"1", b"x") != resp.entry_checksum(b"2", b"x")


def parse_command(command: bytes) -> list[bytes]:
    """A RESP array of bulk strings, parsed by hand."""
    end = command.index(b"\r\n")
    parts, at = [], end + 2
    for _ in range(int(command[1:end])):
        end = command.index(b"\r\n", at)
        size = int(command[at + 1 : end])
        parts.append(command[end + 2 : end + 2 + size])
        at = end + 2 + size + 2
    assert at == len(command)
    return parts


def test_vectorised_hsets_carry_every_entry_to_its_bucket_byte_for_byte():
    rng = np.random.default_rng(3)
    names = [str(n) for n in rng.choice(10**7, 3000, replace=False)]  # 1 to 7 digits: several record widths
    names = [
        keys.variant_entity(int(n), "model") if i % 10 == 0 else n for i, n in enumerate(names)
    ]  # their user's bucket
    lengths = rng.integers(0, 25, len(names))
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = rng.integers(0, 10**6, offsets[-1])
    ids[offsets[7]] = 2**40  # one list needs 64-bit ids
    scores = rng.random(offsets[-1]).astype(np.float32)
    lists = lambda values: pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values))
    values = encoding.encode_arrow(lists(ids), lists(scores)).to_pylist()
    batch = pa.RecordBatch.from_arrays(
        [pa.array(names), pa.array(values, pa.binary())], names=["entity", "encoded_list"]
    )

    encoded = resp.records_of(batch, buckets=16)  # rows in no particular bucket order
    written = {}
    for fields, command in encoded.hsets(lambda b: keys.bucket_key("foryou", "v1", b).encode(), max_fields=50):
        verb, key, *pairs = parse_command(command)
        assert verb == b"HSET" and len(pairs) == 2 * fields <= 100
        written.update({field.decode(): (key.decode(), value) for field, value in zip(pairs[::2], pairs[1::2])})

    assert written == {n: (keys.entry_location("foryou", "v1", n, 16)[0], v) for n, v in zip(names, values)}
    assert encoded.entries == len(names) and encoded.value_bytes == sum(map(len, values))
    assert encoded.checksum() == sum(resp.entry_checksum(n.encode(), v) for n, v in zip(names, values)) % 2**64


def test_r1_is_the_most_compact_of_the_measured_encodings():
    rng = np.random.default_rng(1)
    sizes = encoding.size_report(rng.integers(0, 500_000, 200).tolist(), rng.random(200).tolist())
    assert sizes["R1"] == 1605 and sizes["R1"] < sizes["csv"] < sizes["json"]


def test_arrow_encoding_equals_row_by_row_encoding():
    rng = np.random.default_rng(2)
    lengths = np.array([3, 0, 3, 5, 1, 3])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = rng.integers(0, 10**6, offsets[-1])
    ids[offsets[3]] = 2**40  # one row needs 64-bit ids
    scores = rng.random(offsets[-1]).astype(np.float32)
    lists = lambda values: pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(values))
    expected = [encoding.encode(ids[a:b], scores[a:b]) for a, b in itertools.pairwise(offsets)]

    assert encoding.encode_arrow(lists(ids), lists(scores)).to_pylist() == expected
    assert encoding.encode_arrow(lists(ids).slice(2, 3), lists(scores).slice(2, 3)).to_pylist() == expected[2:5]
    with_null = encoding.encode_arrow(
        pa.array([[7], None], pa.list_(pa.int64())), pa.array([[0.5], None], pa.list_(pa.float32()))
    )
    assert with_null.to_pylist() == [encoding.encode([7], [0.5]), None]


@pytest.mark.parametrize(
    "ids, scores, message",
    [
        ([[-1]], [[0.5]], ">= 0"),
        ([[1, 2]], [[0.5]], "equal length"),
        ([list(range(70_000))], [[0.0] * 70_000], "at most 65535"),
    ],
)
def test_arrow_encoding_rejects_what_r1_cannot_hold(ids, scores, message):
    with pytest.raises(encoding.EncodingError, match=message):
        encoding.encode_arrow(pa.array(ids, pa.list_(pa.int64())), pa.array(scores, pa.list_(pa.float32())))


def test_decode_many_reads_every_value_as_decode_does():
    values = [
        encoding.encode([7, 300], [0.5, 0.25]),
        None,
        encoding.encode([2**40, 1], [1.0, 0.0]),  # 64-bit ids
        encoding.encode([], []),
        encoding.encode([9, 8], [0.3, 0.1]),
    ]
    offsets, ids, scores = encoding.decode_many(values)
    assert offsets.tolist() == [0, 2, 2, 4, 4, 6]
    for row, value in enumerate(values):
        expected = encoding.decode(value) if value is not None else ([], [])
        np.testing.assert_array_equal(ids[offsets[row] : offsets[row + 1]], expected[0])
        np.testing.assert_array_equal(scores[offsets[row] : offsets[row + 1]], expected[1])
    same = [encoding.encode([1, 2, 3], [3, 2, 1]), encoding.encode([4, 5, 6], [6, 5, 4])]  # one shape: one matrix
    assert encoding.decode_many(same)[1].tolist() == [1, 2, 3, 4, 5, 6]
    with pytest.raises(encoding.EncodingError):
        encoding.decode_many([b"R2\x04\x00\x00"])


def test_a_command_is_packed_as_resp():
    assert (
        resp.command("HGET", "recpipe:fresh:v-f1:3", "7")
        == b"*3\r\n$4\r\nHGET\r\n$20\r\nrecpipe:fresh:v-f1:3\r\n$1\r\n7\r\n"
    )
