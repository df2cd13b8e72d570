"""Which listings a fresh run scores: listed after the last run, for sale at the run's time, not sold since."""

from datetime import datetime

from chispa import assert_df_equality

from recpipe.transforms import fresh as FR

ITEMS = "item_id long, status string, listed_at timestamp, sold_at timestamp, deleted_at timestamp"
SINCE, UNTIL = datetime(2026, 11, 2, 10), datetime(2026, 11, 2, 12)


def items(spark):
    return spark.createDataFrame(
        [
            (1, "active", datetime(2026, 11, 2, 9), None, None),  # before the last run
            (2, "active", datetime(2026, 11, 2, 11), None, None),
            (3, "sold", datetime(2026, 11, 2, 11), datetime(2026, 11, 2, 13), None),  # sold after 12:00
            (4, "deleted", datetime(2026, 11, 2, 11), None, datetime(2026, 11, 2, 11, 30)),
            (5, "active", datetime(2026, 11, 2, 11, 45), None, None),  # bought: the row does not say so yet
            (6, "active", datetime(2026, 11, 2, 13), None, None),  # after 12:00
        ],
        ITEMS,
    )


def test_listings_for_sale_now_are_the_active_ones_not_sold_since(spark):
    gone = spark.createDataFrame([(5,)], "item_id long")
    found = items(spark).transform(FR.new_listings(SINCE, gone)).select("item_id")
    assert_df_equality(found, spark.createDataFrame([(2,), (6,)], "item_id long"), ignore_row_order=True)


def test_a_replay_sees_the_listings_as_they_were_at_its_time(spark):
    gone = spark.createDataFrame([(5,)], "item_id long")
    found = items(spark).transform(FR.new_listings(SINCE, gone, UNTIL)).select("item_id")
    # 3 was still for sale at 12:00; 4 was deleted by then; 6 was not listed yet
    assert_df_equality(found, spark.createDataFrame([(2,), (3,)], "item_id long"), ignore_row_order=True)
