"""Assignment and team-draft interleaving on known answers; the contract's test vectors."""

import numpy as np

from recpipe.serving import assignment

from ..conftest import REPO_ROOT


def test_bucket_is_sha256_of_salt_and_id_modulo_ten_thousand():
    import hashlib

    digest = hashlib.sha256(b"ranker-vs-model:42").digest()
    assert assignment.bucket("ranker-vs-model", 42) == int.from_bytes(digest[:8], "big") % 10_000


def test_contract_vectors_are_the_documented_ones():
    contract = (REPO_ROOT / "docs" / "redis-contract.md").read_text()
    for salt, user, bucket, variant in assignment.CONTRACT_VECTORS:
        assert f"| `{salt}` | {user} | {bucket} | {variant} |" in contract
        assert assignment.bucket(salt, user) == bucket
        assert assignment.assign(salt, user, ["control", "treatment"], [1, 1]) == variant


def test_assignment_follows_the_weights_and_a_new_salt_reshuffles():
    users = np.arange(20_000)
    first = assignment.assign_many("exp", users, ["a", "b", "c"], [0.5, 0.25, 0.25])
    shares = [float((first == name).mean()) for name in "abc"]
    assert abs(shares[0] - 0.5) < 0.015 and abs(shares[1] - 0.25) < 0.015
    assert list(first[:50]) == [
        assignment.assign("exp", int(u), ["a", "b", "c"], [0.5, 0.25, 0.25]) for u in users[:50]
    ]
    reshuffled = assignment.assign_many("exp-2", users, ["a", "b", "c"], [0.5, 0.25, 0.25])
    assert 0.3 < float((first == reshuffled).mean()) < 0.45  # independent: 0.5^2 + 2 * 0.25^2 = 0.375


def test_bucket_bounds_cover_every_bucket():
    assert assignment.bucket_bounds([1, 1]) == [5_000, 10_000]
    assert assignment.bucket_bounds([0.1, 0.2, 0.7]) == [1_000, 3_000, 10_000]


def test_team_draft_alternates_fairly_skips_duplicates_and_fills_from_the_longer_list():
    items, teams = assignment.team_draft([1, 2, 3], [2, 4, 5, 6, 7], 6, "s", 1)
    assert sorted(items) == [1, 2, 3, 4, 5, 6]
    assert len(set(items)) == len(items)
    for prefix in range(2, 5, 2):  # after each round, each team has the same number of picks
        assert teams[:prefix].count(0) == teams[:prefix].count(1)
    first = {0: [1, 2, 3], 1: [2, 4, 5, 6, 7]}
    for team in (0, 1):  # each team adds its items in its own order
        picked = [i for i, t in zip(items, teams) if t == team]
        assert picked == [i for i in first[team] if i in picked]
    assert assignment.team_draft([1, 2, 3], [2, 4, 5, 6, 7], 6, "s", 1) == (items, teams)  # deterministic
    assert assignment.team_draft([1], [], 3, "s", 1) == ([1], [0])
