"""An experiment's impressions and the events that followed them -> one row per exposed user -> per-variant sums.

A user is exposed from their first impression of the experiment; what they did from then until the window's end
(the experiment's end plus the attribution days) counts for their variant, all surfaces included (the business
metric), and the same metric over the pre-period before the start is CUPED's covariate. Views per impression
counts views of an impressed listing after it was shown. Under interleaving, every event on a shown listing
credits the team (variant) that contributed it, and each user prefers the team with more credit.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe.monitoring.experiment_stats import MomentSums
from recpipe.run_day import as_of_end

# metric -> (post-period column, pre-period column): per exposed user
USER_METRICS = {
    "purchases_per_user": ("purchases", "pre_purchases"),
    "purchase_value_per_user": ("purchase_value", "pre_purchase_value"),
    "add_to_bags_per_user": ("add_to_bags", "pre_add_to_bags"),
    "views_per_user": ("views", "pre_views"),
}
# metric -> (numerator, denominator): summed over users, compared as a ratio (the delta method)
RATIO_METRICS = {"views_per_impression": ("impressed_views", "impressions")}
MIXED = "mixed"  # a user logged under more than one variant: excluded from the reading (and counted)


def window(start: date, end: date, attribution_days: int) -> tuple[datetime, datetime]:
    """[start of the first day, end of the last day + attribution days)."""
    return as_of_end(start - timedelta(days=1)), as_of_end(end + timedelta(days=attribution_days))


def exposed_users(impressions: DataFrame, experiment: str, start: datetime, end: datetime) -> DataFrame:
    """``user_id, variant, first_exposure, impressions``; a user with impressions under two variants is MIXED."""
    shown = impressions.where(
        (F.col("experiment") == experiment) & (F.col("impression_ts") >= start) & (F.col("impression_ts") < end)
    )
    return shown.groupBy("user_id").agg(
        F.when(F.countDistinct("variant") > 1, F.lit(MIXED)).otherwise(F.first("variant")).alias("variant"),
        F.min("impression_ts").alias("first_exposure"),
        F.count(F.lit(1)).alias("impressions"),
    )


def _counts(events: DataFrame, prefix: str = "") -> list:
    kind = F.col("event_type")
    return [
        F.sum((kind == "purchase").cast("long")).alias(f"{prefix}purchases"),
        F.sum(F.when(kind == "purchase", F.col("price")).otherwise(0.0)).alias(f"{prefix}purchase_value"),
        F.sum((kind == "add_to_bag").cast("long")).alias(f"{prefix}add_to_bags"),
        F.sum((kind == "view").cast("long")).alias(f"{prefix}views"),
    ]


def user_outcomes(
    impressions: DataFrame,
    events: DataFrame,
    prices: DataFrame,
    experiment: str,
    start: date,
    end: date,
    attribution_days: int,
    pre_period_days: int,
) -> DataFrame:
    """One row per exposed user: variant, impressions, impressed views, and each metric after exposure and over
    the pre-period (zeros where the user did nothing)."""
    first, last = window(start, end, attribution_days)
    pre_start = first - timedelta(days=pre_period_days)
    users = exposed_users(impressions, experiment, first, last)
    priced = events.join(prices.select("item_id", "price"), "item_id", "left").fillna({"price": 0.0})
    post = (
        priced.join(users.select("user_id", "first_exposure"), "user_id")
        .where((F.col("event_ts") >= F.col("first_exposure")) & (F.col("event_ts") < last))
        .groupBy("user_id")
        .agg(*_counts(priced))
    )
    pre = (
        priced.where((F.col("event_ts") >= pre_start) & (F.col("event_ts") < first))
        .join(users.select("user_id"), "user_id")
        .groupBy("user_id")
        .agg(*_counts(priced, "pre_"))
    )
    shown = (
        impressions.where(F.col("experiment") == experiment)
        .groupBy("user_id", "item_id")
        .agg(F.min("impression_ts").alias("shown_at"))
    )
    impressed = (
        events.where(F.col("event_type") == "view")
        .join(shown, ["user_id", "item_id"])
        .where((F.col("event_ts") >= F.col("shown_at")) & (F.col("event_ts") < last))
        .groupBy("user_id")
        .agg(F.count(F.lit(1)).alias("impressed_views"))
    )
    outcome_columns = [c for pair in (*USER_METRICS.values(), *RATIO_METRICS.values()) for c in pair]
    joined = users.join(post, "user_id", "left").join(pre, "user_id", "left").join(impressed, "user_id", "left")
    return joined.fillna(0, subset=[c for c in outcome_columns if c != "impressions"])


def variant_sums(outcomes: DataFrame) -> dict[str, dict[str, MomentSums]]:
    """variant -> metric -> ``MomentSums`` (y, x: post and pre for user metrics, numerator and denominator for
    ratios), one aggregation over the exposed users (MIXED users left out)."""
    pairs = {**USER_METRICS, **RATIO_METRICS}
    aggregates = [F.count(F.lit(1)).alias("n")]
    for metric, (y, x) in pairs.items():
        yc, xc = F.col(y).cast("double"), F.col(x).cast("double")
        aggregates += [
            F.sum(yc).alias(f"{metric}__y"),
            F.sum(yc * yc).alias(f"{metric}__y2"),
            F.sum(xc).alias(f"{metric}__x"),
            F.sum(xc * xc).alias(f"{metric}__x2"),
            F.sum(xc * yc).alias(f"{metric}__xy"),
        ]
    rows = outcomes.where(F.col("variant") != MIXED).groupBy("variant").agg(*aggregates).collect()
    return {
        row["variant"]: {
            metric: MomentSums(
                float(row["n"]), *(float(row[f"{metric}__{part}"] or 0.0) for part in ("y", "y2", "x", "x2", "xy"))
            )
            for metric in pairs
        }
        for row in rows
    }


def interleaving_credit(impressions: DataFrame, events: DataFrame, experiment: str, end: datetime) -> DataFrame:
    """``user_id, team, credit``: events on a shown listing after it was shown, credited to the team (variant)
    whose list contributed it (``item_source`` ``team:<variant>``)."""
    shown = (
        impressions.where((F.col("experiment") == experiment) & F.col("item_source").startswith("team:"))
        .groupBy("user_id", "item_id")
        .agg(F.min("impression_ts").alias("shown_at"), F.first(F.substring("item_source", 6, 1000)).alias("team"))
    )
    return (
        events.join(shown, ["user_id", "item_id"])
        .where((F.col("event_ts") >= F.col("shown_at")) & (F.col("event_ts") < end))
        .groupBy("user_id", "team")
        .agg(F.count(F.lit(1)).alias("credit"))
    )


def interleaving_wins(credit: DataFrame, control: str, treatment: str) -> tuple[int, int]:
    """Users whose credit favoured the control, and the treatment (users with equal credit are ties)."""
    per_user = credit.groupBy("user_id").agg(
        F.sum(F.when(F.col("team") == control, F.col("credit")).otherwise(0)).alias("control"),
        F.sum(F.when(F.col("team") == treatment, F.col("credit")).otherwise(0)).alias("treatment"),
    )
    row = per_user.agg(
        F.sum((F.col("control") > F.col("treatment")).cast("long")).alias("control_wins"),
        F.sum((F.col("treatment") > F.col("control")).cast("long")).alias("treatment_wins"),
    ).collect()[0]
    return int(row["control_wins"] or 0), int(row["treatment_wins"] or 0)
