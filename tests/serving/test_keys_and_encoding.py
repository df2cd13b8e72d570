"""The key contract and the value encoding, byte for byte, without a server."""

import struct

import numpy as np
import pytest

from recpipe.serving import encoding, keys


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
    assert value == b"R1" + bytes([4]) + struct.pack("<H", 2) + struct.pack("<II", 7, 300) + struct.pack("<ff", 0.5, 0.25)
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


def test_checksum_is_order_independent_and_content_sensitive():
    a, b = encoding.entry_checksum("1", b"x"), encoding.entry_checksum("2", b"y")
    assert encoding.combine([a, b]) == encoding.combine([b, a])
    assert encoding.entry_checksum("1", b"x") != encoding.entry_checksum("1", b"z")
    assert encoding.entry_checksum("1", b"x") != encoding.entry_checksum("2", b"x")


def test_r1_is_the_most_compact_of_the_measured_encodings():
    rng = np.random.default_rng(1)
    sizes = encoding.size_report(rng.integers(0, 500_000, 200).tolist(), rng.random(200).tolist())
    assert sizes["R1"] == 1605 and sizes["R1"] < sizes["csv"] < sizes["json"]


def test_batch_encoding_equals_row_by_row_encoding():
    rng = np.random.default_rng(2)
    lengths = np.array([3, 0, 3, 5, 1, 3])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    ids = rng.integers(0, 10**6, offsets[-1])
    ids[offsets[3]] = 2**40  # one row needs 64-bit ids
    scores = rng.random(offsets[-1]).astype(np.float32)
    batch = encoding.encode_batch(offsets, ids, scores)
    assert batch == [encoding.encode(ids[a:b], scores[a:b]) for a, b in zip(offsets[:-1], offsets[1:])]
    with pytest.raises(encoding.EncodingError):
        encoding.encode_batch(np.array([0, 1]), np.array([-1]), np.array([0.5]))
