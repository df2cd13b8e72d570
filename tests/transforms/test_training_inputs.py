"""The silver -> model inputs transforms on a few inline rows, compared whole with chispa."""

from datetime import datetime

from chispa import assert_df_equality

from recpipe.schemas import EVENT_TYPES
from recpipe.transforms import training_inputs as TI

INDEX = "item_id long, item_idx int"


def test_event_mask_sets_one_bit_per_event_type(spark):
    rows = spark.createDataFrame(
        [(1, ["view"]), (2, ["view", "purchase"]), (3, [])], "id int, event_types array<string>"
    )
    masks = rows.select("id", TI.event_mask(EVENT_TYPES).alias("mask"))
    purchase = 1 << EVENT_TYPES.index("purchase")
    expected = spark.createDataFrame([(1, 1), (2, 1 | purchase), (3, 0)], "id int, mask int")
    assert_df_equality(masks, expected, ignore_row_order=True, ignore_nullable=True)


def test_listing_index_appends_listings_for_sale_without_history_in_id_order(spark):
    item_index = spark.createDataFrame([(10, 0), (30, 1)], INDEX)
    availability = spark.createDataFrame(
        [
            (10, "active", None),
            (30, "sold", datetime(2026, 10, 1)),
            (50, "active", None),
            (40, "active", None),
            (60, "sold", datetime(2026, 10, 5)),
            (70, "sold", datetime(2026, 9, 1)),
            (80, "deleted", None),
        ],
        "item_id long, status string, sold_at timestamp",
    )
    indexed = availability.transform(TI.listing_index(item_index, datetime(2026, 9, 20)))
    # 40 and 50 are for sale; 60 sold after the evaluation start; 70 sold before it, 80 was deleted
    expected = spark.createDataFrame([(10, 0), (30, 1), (40, 2), (50, 3), (60, 4)], INDEX)
    assert_df_equality(indexed, expected, ignore_row_order=True, ignore_nullable=True)


def test_listing_attributes_carry_the_sellers_country(spark):
    index = spark.createDataFrame([(10, 0), (20, 1)], INDEX)
    users = spark.createDataFrame([(7, "FR"), (9, "DE")], "user_id long, country string")
    listed = datetime(2026, 10, 1)
    items = spark.createDataFrame(
        [
            (10, 7, "tops", "COS", "M", 20.0, "good", listed),
            (20, 8, "shoes", "Nike", "40", 55.0, "new_with_tags", listed),
            (30, 9, "bags", "Zara", "One size", 30.0, "good", listed),
        ],
        "item_id long, seller_id long, category string, brand string, size string, price double, condition string, listed_at timestamp",
    )
    expected = spark.createDataFrame(
        [
            (0, "tops", "COS", "M", "good", 20.0, listed, "FR"),
            (1, "shoes", "Nike", "40", "new_with_tags", 55.0, listed, None),
        ],
        "item_idx int, category string, brand string, size string, condition string, price double, listed_at timestamp, country string",
    )
    assert_df_equality(
        items.transform(TI.listing_attributes(index, users)), expected, ignore_row_order=True, ignore_nullable=True
    )
