"""Figures that say whether a generated marketplace looks like a resale app, and the check against their ranges.

Computed from the written tables (bronze plus ``sim.users`` for the buyers' true sizes), at the window's end.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe.data.config import CalibrationRanges
from recpipe.data.world import LETTER_SIZES, SHOE_CLASS, SHOE_SIZES
from recpipe.tables import one_row

DAY = 86_400.0
QUANTILES = (0.25, 0.5, 0.75, 0.9)
SIZE_CLASS_OF_LABEL = {**{s: i for i, s in enumerate(LETTER_SIZES)}, **dict(zip(SHOE_SIZES, SHOE_CLASS))}


def _days(later: str, earlier: str):
    return (F.col(later).cast("double") - F.col(earlier).cast("double")) / DAY


def _quantiles(df: DataFrame, column: str, prefix: str) -> dict[str, float]:
    values = df.approxQuantile(column, list(QUANTILES), 0.001) if df.take(1) else [float("nan")] * len(QUANTILES)
    return {f"{prefix}_p{int(q * 100)}": round(v, 3) for q, v in zip(QUANTILES, values)}


def calibration_figures(
    sim_users: DataFrame, items: DataFrame, events: DataFrame, window_end: datetime
) -> dict[str, float]:
    """Time to sale, live-inventory age, freshness of purchases, traffic on sold listings, size fit, funnel."""
    end = F.lit(window_end).cast("timestamp")
    sold = items.where(F.col("sold_at").isNotNull()).select(_days("sold_at", "listed_at").alias("days"))
    live = items.where((F.col("listed_at") < end) & (F.col("status") == "active")).select(
        ((end.cast("double") - F.col("listed_at").cast("double")) / DAY).alias("days")
    )
    figures = {**_quantiles(sold, "days", "time_to_sale_days"), **_quantiles(live, "days", "live_inventory_age_days")}
    figures["live_inventory_median_age_days"] = figures["live_inventory_age_days_p50"]

    size_class = F.create_map(*[F.lit(x) for kv in SIZE_CLASS_OF_LABEL.items() for x in kv])
    joined = events.join(items.select("item_id", "listed_at", "sold_at", "size"), "item_id").join(
        sim_users.select("user_id", F.col("size_class").alias("buyer_size_class")), "user_id", "left"
    )
    is_purchase, is_view = F.col("event_type") == "purchase", F.col("event_type") == "view"
    after_sale = F.col("sold_at").isNotNull() & (F.col("event_ts") > F.col("sold_at"))
    item_size_class = size_class[F.col("size")]
    share = lambda cond, within: F.avg(F.when(within, cond.cast("double")))
    row = one_row(
        joined.agg(
            share(_days("event_ts", "listed_at") < 1, is_purchase).alias("purchases_on_listings_under_1d"),
            share(_days("event_ts", "listed_at") < 7, is_purchase).alias("purchases_on_listings_under_7d"),
            share(after_sale, is_view).alias("views_on_sold_items"),
            share(after_sale, F.lit(True)).alias("events_after_sale"),
            share(item_size_class == F.col("buyer_size_class"), is_purchase & item_size_class.isNotNull()).alias(
                "purchases_in_buyer_size"
            ),
            *[
                share(F.col("event_type") == t, F.lit(True)).alias(f"share_{t}")
                for t in ("view", "like", "save", "add_to_bag", "purchase")
            ],
        )
    ).asDict()
    figures.update({k: round(float(v), 4) if v is not None else float("nan") for k, v in row.items()})

    week_before_end = end - F.expr("INTERVAL 7 DAYS")
    settled = items.where(F.col("listed_at") < week_before_end)
    figures["listings_never_sold"] = round(
        float(one_row(settled.select(F.avg(F.col("sold_at").isNull().cast("double"))))[0] or 0.0), 4
    )
    figures["purchases_after_own_view"] = round(purchases_after_own_view(events), 4)
    return figures


def purchases_after_own_view(events: DataFrame) -> float:
    """Share of purchases preceded by the buyer's view of the same listing (1.0 in a sound funnel)."""
    purchases = events.where(F.col("event_type") == "purchase").select(
        "user_id", "item_id", F.col("event_ts").alias("bought")
    )
    views = events.where(F.col("event_type") == "view").select("user_id", "item_id", "event_ts")
    first_view = views.groupBy("user_id", "item_id").agg(F.min("event_ts").alias("first_view"))
    row = one_row(
        purchases.join(first_view, ["user_id", "item_id"], "left").agg(
            F.avg(F.coalesce(F.col("first_view") < F.col("bought"), F.lit(False)).cast("double"))
        )
    )
    return float(row[0]) if row[0] is not None else float("nan")


def out_of_range(figures: dict[str, float], ranges: CalibrationRanges) -> list[str]:
    """One line per figure outside its configured range."""
    problems = []
    for name, (low, high) in ranges.model_dump().items():
        value = figures[name]
        if not low <= value <= high:
            problems.append(f"{name} = {value} outside [{low}, {high}]")
    return problems
