"""The re-ranking step on Spark: lists re-ranked on the executors with the broadcast listing style."""

import numpy as np
import pandas as pd

from recpipe.config.responsible import RerankConfig
from recpipe.transforms import reranking

STYLE = pd.DataFrame(
    {
        "item_id": [1, 2, 3, 4, 5],
        "seller_id": [7, 7, 7, 8, 9],
        "category": ["a", "a", "a", "b", "c"],
        "brand": ["p", "p", "p", "q", "r"],
        "new_seller": [False, False, False, False, True],
        "factors": [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], None, [0.0, 1.0]],
    }
)


def lists(spark):
    return spark.createDataFrame(
        [(1, [1, 2, 3, 4, 5], [0.9, 0.8, 0.7, 0.6, 0.5], ["model"] * 5)],
        "user_id long, item_ids array<long>, scores array<float>, item_sources array<string>",
    )


def test_knobs_at_zero_mean_no_reranking(spark):
    assert reranking.broadcast_reranking(spark, STYLE, RerankConfig()) is None


def test_a_list_of_one_sellers_items_is_spread_and_cut_to_length(spark):
    """Seller 7 holds the three best; with a discount of 1 per placed listing its second comes after every other
    seller's, and the list keeps 4 of the 5 with scores capped by the one above."""
    rerank = reranking.broadcast_reranking(spark, STYLE, RerankConfig(seller_discount=1.0))
    assert rerank is not None
    row = lists(spark).transform(reranking.reranked(rerank, 4)).first()
    assert row.item_ids == [1, 4, 5, 2]
    assert np.allclose(row.scores, [0.9, 0.6, 0.5, 0.5])
    assert row.item_sources == ["model"] * 4


def test_listing_style_table_by_hand():
    table = reranking.ListingStyle.from_pandas(STYLE, 2)
    rows = table.rows(np.array([3, 99, 1]))
    assert rows.tolist() == [2, 5, 0]  # 99 is unknown: the last row
    sim = table.similarity(rows)
    assert sim[0, 2] == 1.0  # same category, brand and vector
    assert sim[0, 1] == 0.0 and sim[1, 2] == 0.0  # the unknown listing shares nothing with the others
    assert table.new_seller[table.rows(np.array([5]))].tolist() == [True]
