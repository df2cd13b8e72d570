"""The gate's transforms on known lists: per-list checks, failing lists, run figures."""

from datetime import datetime

import pytest
from chispa import assert_df_equality

from recpipe import catalog
from recpipe.config import ListGateConfig
from recpipe.quality import gold
from recpipe.quality.rules import DataQualityError
from recpipe.serving import encoding

USER_LISTS = gold.SURFACES[0]
SIMILAR = gold.SURFACES[1]


def lists(spark, rows, key="user_id long"):
    """Lists with their served bytes (of the items and as many scores: misaligned rows still encode)."""
    encoded = [(*row, encoding.encode(row[1], row[2][: len(row[1])])) for row in rows]
    return spark.createDataFrame(
        encoded, f"{key}, item_ids array<long>, scores array<float>, source string, encoded_list binary"
    )


def test_list_checks_count_what_each_rule_looks_at(spark):
    user_lists = lists(
        spark,
        [
            (1, [10, 11, 12], [3.0, 2.0, 1.0], "personal"),  # clean
            (2, [10, 10, 13], [3.0, 2.0, 1.0], "personal"),  # duplicate; 13 sold
            (3, [14, 11], [1.0, 2.0], "personal"),  # unsorted; 14 is user 3's own listing
            (4, [12, 15], [2.0, 1.0, 0.5], "personal"),  # misaligned; user 4 has seen 15
        ],
    )
    available = spark.createDataFrame([(i,) for i in (10, 11, 12, 14, 15)], "item_id long")
    seen = spark.createDataFrame([(4, 15)], "user_id long, item_id long")
    sellers = spark.createDataFrame(
        [(i, 3 if i == 14 else 99) for i in (10, 11, 12, 13, 14, 15)], "item_id long, seller_id long"
    )

    got = gold.list_checks(user_lists, USER_LISTS, available, seen, sellers)

    expected = spark.createDataFrame(
        [
            (1, 3, 0, True, True, True, 0, 0, 0),
            (2, 3, 1, True, True, True, 1, 0, 0),
            (3, 2, 0, False, True, True, 0, 0, 1),
            (4, 2, 0, True, False, False, 0, 1, 0),
        ],  # misaligned lists have no R1 value that says what they say
        "user_id long, length int, duplicate_items int, scores_sorted boolean, aligned boolean, encoded_matches boolean, "
        "unavailable_items long, seen_items long, own_items long",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_failing_lists_name_every_rule_they_break(spark):
    checks = spark.createDataFrame(
        [(1, 3, 0, True, True, True, 0, 0, 0), (2, 1, 1, False, True, False, 2, 0, 0)],
        "user_id long, length int, duplicate_items int, scores_sorted boolean, aligned boolean, encoded_matches boolean, "
        "unavailable_items long, seen_items long, own_items long",
    )
    got = gold.failing_lists(checks, USER_LISTS, gold.list_rules(USER_LISTS, checks.columns, min_length=2)).select(
        "record", "reason"
    )
    expected = spark.createDataFrame(
        [
            (
                '{"user_id":2}',
                "gold.user_candidates.item_ids.no_unavailable_items; gold.user_candidates.item_ids.no_duplicates; "
                "gold.user_candidates.scores.sorted_descending; gold.user_candidates.encoded_list.matches_items; "
                "gold.user_candidates.item_ids.min_length",
            )
        ],
        "record string, reason string",
    )
    assert_df_equality(got, expected, ignore_nullable=True)


def test_encoded_lists_must_say_what_the_arrays_say(spark):
    good = encoding.encode([10, 2**40], [2.0, 1.0])
    rows = [
        (1, [10, 2**40], [2.0, 1.0], "personal", good),  # 64-bit ids, matches
        (2, [], [], "personal", encoding.encode([], [])),  # empty, matches
        (3, [11, 2**40], [2.0, 1.0], "personal", good),  # another list's bytes
        (4, [10, 2**40, 12], [2.0, 1.0, 0.5], "personal", good),  # count differs
        (5, [10, 2**40], [2.0, 1.0], "personal", good[:-1]),  # truncated
        (6, [10, 2**40], [2.0, 1.0], "personal", b"R2" + good[2:]),  # not R1
        (7, [10, 2**40], [2.0, 1.0], "personal", good[:2] + b"\x00" + good[3:]),  # bad id width
        (8, [10, 2**40], [2.0, 1.0], "personal", None),  # missing
        (9, [10, 2**40], [2.0, 0.5], "personal", good),  # other scores
    ]
    user_lists = spark.createDataFrame(
        rows, "user_id long, item_ids array<long>, scores array<float>, source string, encoded_list binary"
    )
    available = spark.createDataFrame([(10,), (11,), (12,), (2**40,)], "item_id long")
    empty = spark.createDataFrame([], "user_id long, item_id long")
    got = gold.list_checks(user_lists, USER_LISTS, available, empty, empty.withColumnRenamed("user_id", "seller_id"))
    assert {r.user_id: r.encoded_matches for r in got.collect()} == {
        1: True,
        2: True,
        3: False,
        4: False,
        5: False,
        6: False,
        7: False,
        8: False,
        9: False,
    }


def test_lists_written_before_the_encoded_bytes_get_a_clear_error(spark):
    old = spark.createDataFrame(
        [(1, [10], [1.0], "personal")], "user_id long, item_ids array<long>, scores array<float>, source string"
    )
    with pytest.raises(
        DataQualityError, match=r"gold.user_candidates has no column encoded_list .*rerun `recpipe candidates`"
    ):
        gold.require_encoded_lists(old, catalog.GOLD_USER_CANDIDATES)
    current = lists(spark, [(1, [10], [1.0], "personal")])
    assert gold.require_encoded_lists(current, catalog.GOLD_USER_CANDIDATES) is current


def test_similar_lists_must_not_hold_their_own_item(spark):
    similar = spark.createDataFrame(
        [(item, "personal", [2, 3], [0.9, 0.8], encoding.encode([2, 3], [0.9, 0.8])) for item in (1, 2)],
        "item_id long, source string, similar_item_ids array<long>, scores array<float>, encoded_list binary",
    )
    available = spark.createDataFrame([(2,), (3,)], "item_id long")
    got = gold.list_checks(similar, SIMILAR, available).select("item_id", "self_items").orderBy("item_id")
    assert [tuple(r) for r in got.collect()] == [(1, 0), (2, 1)]


def test_run_figures_on_known_lists(spark):
    today = lists(
        spark, [(1, [10, 11, 12], [3.0, 2.0, 1.0], "personal"), (2, [10, 13, 14], [1.0, 0.5, 0.2], "fallback:global")]
    )
    before = lists(
        spark, [(1, [10, 11, 15], [2.0, 1.5, 1.0], "personal"), (2, [16, 17, 13], [1.0, 0.5, 0.2], "fallback:global")]
    )
    users = spark.createDataFrame([(1,), (2,), (3,)], "user_id long")
    available = spark.createDataFrame([(i,) for i in range(10, 20)], "item_id long")
    status = spark.createDataFrame([(15, "sold"), (16, "sold"), (13, "active")], "item_id long, status string")
    config = ListGateConfig(overlap_at=2)

    figures = gold.run_figures(today, users, available, before, status, config)

    assert figures["users"] == 3 and figures["users_missing"] == 1 and figures["lists"] == 2
    assert figures["coverage"] == pytest.approx(5 / 10)
    assert figures["fallback_share"] == pytest.approx(1 / 2)
    assert figures["top_items_share"] == pytest.approx(
        2 / 6
    )  # item 10 holds 2 of 6 slots (top 1% of 10 items = 1 item)
    assert figures["overlap_at_n"] == pytest.approx((2 / 2 + 0 / 2) / 2)  # user 1 keeps 10, 11; user 2 keeps neither
    assert figures["depletion"] == pytest.approx(2 / 6)  # 15 and 16 sold since
    assert figures["coverage_change"] == pytest.approx((5 - 6) / 6)
    assert figures["median_score"] == pytest.approx(2.0)  # median of user 1's first two scores (3.0, 2.0), approx
    assert figures["score_shift"] == pytest.approx((2.0 - 1.5) / 1.5)


def test_a_first_run_has_no_comparison(spark):
    today = lists(spark, [(1, [10], [1.0], "personal")])
    users = spark.createDataFrame([(1,)], "user_id long")
    available = spark.createDataFrame([(10,)], "item_id long")
    figures = gold.run_figures(
        today, users, available, None, available.selectExpr("item_id", "'active' AS status"), ListGateConfig()
    )
    assert figures["overlap_at_n"] is None and figures["depletion"] is None and figures["coverage"] == 1.0


def test_generated_at_marks_the_end_of_the_as_of_day():
    from recpipe.run_day import as_of_end, as_of_from_end

    end = as_of_end(datetime(2026, 11, 1).date())
    assert as_of_from_end(end.replace(tzinfo=None)) == datetime(2026, 11, 1).date()
