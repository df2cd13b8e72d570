"""A live experiment on a real Redis: users of different variants read different lists from one foryou version,
the same user always the same variant; interleaving drafts both lists and says which variant each item came
from; the answer carries what the app logs."""

from datetime import date, datetime

from recpipe.config.experiments import ExperimentConfig, VariantConfig
from recpipe.serving import assignment, encoding, keys
from recpipe.serving.impressions import impression_rows
from recpipe.serving.reader import INTERLEAVED, RecommendationReader

AB = ExperimentConfig(
    name="ranker-vs-model",
    start=date(2026, 11, 1),
    end=date(2026, 11, 14),
    variants=(VariantConfig(name="ranked"), VariantConfig(name="model")),
)
CONTROL = {u: ([100 + u, 200 + u], [0.9, 0.8]) for u in range(40)}
TREATMENT = {u: ([300 + u, 100 + u], [0.7, 0.6]) for u in range(40)}


def publish(client, buckets: int = 4) -> None:
    """One foryou version: the control's lists under the user id, the treatment's under ``{user}:model``."""
    client.set(keys.pointer_key("foryou"), "v1")
    client.hset(keys.manifest_key("foryou", "v1"), mapping={"buckets": buckets, "model_version": "7"})
    for user in CONTROL:
        for entity, lists in ((user, CONTROL), (keys.variant_entity(user, "model"), TREATMENT)):
            key, field = keys.entry_location("foryou", "v1", entity, buckets)
            client.hset(key, field, encoding.encode(*lists[user]))


def test_users_of_different_variants_read_their_variants_lists_and_always_the_same(redis_server):
    reader = RecommendationReader(redis_server.url, AB)
    publish(reader.client)
    answers = reader.for_users(list(CONTROL), n=2)
    variants = {a.variant for a in answers}
    assert variants == {"ranked", "model"}  # 40 users: both arms are served
    for user, answer in zip(CONTROL, answers):
        expected = CONTROL[user] if answer.variant == "ranked" else TREATMENT[user]
        assert answer.item_ids == expected[0]
        assert answer.variant == assignment.assign("ranker-vs-model", user, ["ranked", "model"], [1, 1])
        assert answer.served_version == "v1" and answer.model_version == "7" and answer.experiment == AB.name
    again = RecommendationReader(redis_server.url, AB).for_users(list(CONTROL), n=2)
    assert [a.variant for a in again] == [a.variant for a in answers]  # sticky: nothing stored, a hash
    forced = RecommendationReader(redis_server.url, AB, forced_variant="model").for_users(list(CONTROL), n=2)
    assert [a.item_ids for a in forced] == [TREATMENT[u][0] for u in CONTROL]  # a QA look at one arm


def test_interleaving_drafts_both_lists_and_credits_each_item_to_its_team(redis_server):
    experiment = AB.model_copy(update={"kind": "interleaving"})
    reader = RecommendationReader(redis_server.url, experiment)
    publish(reader.client)
    answer = reader.for_user(3, n=4)
    assert answer.variant == INTERLEAVED
    assert sorted(answer.item_ids) == [103, 203, 303]  # 103 is in both lists: shown once
    assert answer.teams is not None and set(answer.teams) == {"ranked", "model"}
    first_team = answer.teams[0]
    assert answer.item_ids[0] == (103 if first_team == "ranked" else 303)
    rows = impression_rows(3, answer, datetime(2026, 11, 2, 9), first_impression_id=1000)
    assert [r["position"] for r in rows] == [0, 1, 2]
    assert [r["item_source"] for r in rows] == [f"team:{t}" for t in answer.teams]
    assert {r["variant"] for r in rows} == {INTERLEAVED} and rows[0]["impression_id"] == 1000
