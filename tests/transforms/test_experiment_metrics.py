"""An experiment's exposure and interleaving credit on hand-made impressions and events."""

from datetime import datetime

from chispa import assert_df_equality

from recpipe import catalog
from recpipe.transforms import experiment_metrics as em

EVENTS = (
    "event_id long, user_id long, item_id long, event_type string, event_ts timestamp, session_id long, surface string"
)


def impressions(spark, rows):
    full = [
        (i, u, item, pos, "for_you", source, "v1", "3", "x", variant, ts)
        for i, (u, item, pos, source, variant, ts) in enumerate(rows)
    ]
    return spark.createDataFrame(full, catalog.columns(catalog.BRONZE_IMPRESSIONS))


def test_exposure_starts_at_the_first_impression_and_a_user_of_two_variants_is_mixed(spark):
    at = lambda h: datetime(2026, 11, 2, h)
    shown = impressions(
        spark,
        [(1, 10, 0, "foryou", "A", at(9)), (1, 11, 1, "foryou", "A", at(8)), (2, 10, 0, "foryou", "A", at(9)),
         (2, 12, 0, "foryou", "B", at(10)), (3, 10, 0, "foryou", "B", datetime(2026, 11, 9))],
    )  # fmt: skip
    exposed = em.exposed_users(shown, "x", datetime(2026, 11, 2), datetime(2026, 11, 4))
    expected = spark.createDataFrame(
        [(1, "A", at(8), 2), (2, em.MIXED, at(9), 2)],
        "user_id long, variant string, first_exposure timestamp, impressions long",
    )
    assert_df_equality(exposed, expected, ignore_row_order=True, ignore_nullable=True)


def test_interleaving_credits_each_event_after_the_impression_to_the_team_that_showed_the_item(spark):
    at = lambda h: datetime(2026, 11, 2, h)
    shown = impressions(
        spark,
        [(1, 10, 0, "team:A", "interleaved", at(9)), (1, 11, 1, "team:B", "interleaved", at(9)),
         (2, 10, 0, "team:B", "interleaved", at(9)), (2, 12, 1, "team:A", "interleaved", at(9))],
    )  # fmt: skip
    events = spark.createDataFrame(
        [(1, 1, 10, "view", at(10), 1, "for_you"), (2, 1, 10, "purchase", at(11), 1, "for_you"),
         (3, 1, 11, "view", at(10), 1, "for_you"), (4, 2, 10, "view", at(8), 2, "for_you"),
         (5, 2, 12, "view", at(10), 2, "for_you"), (6, 2, 99, "view", at(10), 2, "home")],
        EVENTS,
    )  # fmt: skip
    credit = em.interleaving_credit(shown, events, "x", datetime(2026, 11, 3))
    expected = spark.createDataFrame(
        [(1, "A", 2), (1, "B", 1), (2, "A", 1)], "user_id long, team string, credit long"
    )  # user 2's view of 10 came before it was shown; item 99 was not shown
    assert_df_equality(credit, expected, ignore_row_order=True, ignore_nullable=True)
    assert em.interleaving_wins(credit, "A", "B") == (2, 0)
