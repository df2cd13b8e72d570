"""A small hand-made world of silver and gold tables whose every figure is known, for gate, run-record and
report tests.

Users 1..6 (user 6 on a fallback list); items 100..129 sold by sellers 1001..1005, except item 128 which user 1
sells. Item 126 is sold and 127 deleted; user 2 has viewed item 129. Each user's list holds 8 distinct
available items, none seen or own, scores descending.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from recpipe import catalog
from recpipe.config import Settings
from recpipe.jobs.context import JobContext
from recpipe.tables import Tables
from recpipe.transforms.candidates import with_encoded_lists

USERS = [1, 2, 3, 4, 5, 6]
ITEMS = list(range(100, 130))
SOLD, DELETED, OWN_OF_USER_1, SEEN_BY_USER_2 = 126, 127, 128, 129
LIST_LENGTH = 8
AS_OF = date(2026, 11, 1)
LISTS_SCHEMA = (
    "user_id long, item_ids array<long>, scores array<float>, source string, model_version string, "
    "run_id string, generated_at timestamp"
)


def context(spark, settings: Settings, job: str) -> JobContext:
    return JobContext.for_settings(job, settings, spark)


def good_lists() -> dict[int, list[int]]:
    """Lists spread over the 26 freely recommendable items (no sold, deleted, own or seen item)."""
    pool = [i for i in ITEMS if i not in (SOLD, DELETED, OWN_OF_USER_1, SEEN_BY_USER_2)]
    return {u: [pool[(3 * (u - 1) + k) % len(pool)] for k in range(LIST_LENGTH)] for u in USERS}


def write_silver(tables: Tables, sold: tuple[int, ...] = (SOLD,)) -> None:
    spark = tables.spark
    seller = {i: (1 if i == OWN_OF_USER_1 else 1001 + i % 5) for i in ITEMS}
    status = {i: "sold" if i in sold else "deleted" if i == DELETED else "active" for i in ITEMS}
    tables.overwrite(
        spark.createDataFrame([(u, "FR") for u in USERS], "user_id long, country string"), catalog.SILVER_USERS
    )
    listed = datetime(2026, 10, 20)
    sold_at = {i: datetime(2026, 10, 30) if i in sold else None for i in ITEMS}
    tables.overwrite(
        spark.createDataFrame(
            [
                (i, seller[i], f"cat{i % 3}", f"brand{i % 4}", "M", 20.0, "good", listed, sold_at[i], None, status[i])
                for i in ITEMS
            ],
            catalog.columns(catalog.SILVER_ITEMS),
        ),
        catalog.SILVER_ITEMS,
    )
    tables.overwrite(
        spark.createDataFrame(
            [(i, seller[i], status[i]) for i in ITEMS], "item_id long, seller_id long, status string"
        ),
        catalog.SILVER_ITEM_AVAILABILITY,
    )
    tables.overwrite(
        spark.createDataFrame(
            [(2, SEEN_BY_USER_2, 1.0, 1, datetime(2026, 11, 1, 9), ["view"])],
            "user_id long, item_id long, confidence double, n_events long, "
            "last_event_ts timestamp, event_types array<string>",
        ),
        catalog.SILVER_INTERACTIONS,
    )


def write_gold(
    tables: Tables,
    lists: dict[int, list[int]],
    run_id: str,
    as_of: date = AS_OF,
    scores: dict[int, list[float]] | None = None,
    for_sale: list[int] | None = None,
) -> None:
    """Gold tables of one run; similar-item and fallback lists are drawn from ``for_sale``."""
    spark = tables.spark
    stamp = ("1", run_id, datetime.combine(as_of + timedelta(days=1), datetime.min.time()))
    rows = [
        (
            u,
            items,
            (scores or {}).get(u, [float(len(items) - k) for k in range(len(items))]),
            "fallback:country=FR" if u == 6 else "personal",
            *stamp,
        )
        for u, items in lists.items()
    ]
    tables.overwrite(
        spark.createDataFrame(rows, LISTS_SCHEMA).transform(with_encoded_lists()), catalog.GOLD_USER_CANDIDATES
    )
    pool = for_sale or good_lists()[1]
    similar = [(i, [j for j in pool if j != i][:3], [0.9, 0.8, 0.7], "vectors", *stamp) for i in pool]
    tables.overwrite(
        spark.createDataFrame(
            similar, LISTS_SCHEMA.replace("user_id", "item_id").replace("item_ids", "similar_item_ids")
        ).transform(with_encoded_lists("similar_item_ids")),
        catalog.GOLD_SIMILAR_ITEMS,
    )
    fallback = [("country=FR", pool, [float(len(pool) - k) for k in range(len(pool))], *stamp)]
    tables.overwrite(
        spark.createDataFrame(
            fallback, LISTS_SCHEMA.replace("user_id long", "segment string").replace("source string, ", "")
        ).transform(with_encoded_lists()),
        catalog.GOLD_FALLBACK_CANDIDATES,
    )
    tables.overwrite(
        spark.createDataFrame(
            [(i, "sold" if i == SOLD else "active", datetime(2026, 10, 1)) for i in ITEMS],
            "item_id long, status string, listed_at timestamp",
        ),
        catalog.BRONZE_ITEMS,
    )
    tables.overwrite(  # no purchase since the lists were built: the sold item is known from its row
        spark.createDataFrame(
            [(1, 2, SEEN_BY_USER_2, "view", datetime(2026, 11, 1, 9))],
            "event_id long, user_id long, item_id long, event_type string, event_ts timestamp",
        ),
        catalog.BRONZE_EVENTS,
    )
