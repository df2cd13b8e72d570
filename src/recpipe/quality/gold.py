"""What the gate checks in the gold lists before they are published.

Per list (one row per list, reported through Great Expectations): no sold or deleted item, no item the user has
seen or sells, no duplicate, scores sorted, arrays aligned, a minimum length. Per run (one row, also through
Great Expectations): every user covered, catalog coverage and the share of users on fallback within bounds, and
the change against the previously published lists (overlap at N, coverage, score level). Depletion and
popularity concentration are measured here too, for the run record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import ListGateConfig
from recpipe.quality.rules import DataQualityError
from recpipe.tables import one_row
from recpipe.transforms.candidates import PERSONAL_SOURCE, with_encoding_check

if TYPE_CHECKING:
    import great_expectations as gx

# Count columns of the per-list check frame that must be zero, and what a failure means.
ZERO_COUNTS = {
    "unavailable_items": "no_unavailable_items",
    "seen_items": "no_seen_items",
    "own_items": "no_own_items",
    "self_items": "no_self_item",
    "duplicate_items": "no_duplicates",
}


@dataclass(frozen=True)
class ListSurface:
    """A gold table of lists: its key columns and which item rules apply to it."""

    table: str
    keys: tuple[str, ...]
    items_column: str
    per_user: bool = False  # seen and own items are checked per user
    per_item: bool = False  # a list must not hold its own item


SURFACES = (
    ListSurface(catalog.GOLD_USER_CANDIDATES, ("user_id",), "item_ids", per_user=True),
    ListSurface(catalog.GOLD_SIMILAR_ITEMS, ("item_id", "source"), "similar_item_ids", per_item=True),
    ListSurface(catalog.GOLD_FALLBACK_CANDIDATES, ("segment",), "item_ids"),
)


def list_checks(
    lists: DataFrame,
    surface: ListSurface,
    available: DataFrame,
    seen: DataFrame | None = None,
    sellers: DataFrame | None = None,
) -> DataFrame:
    """One row per list with what the rules look at.

    Args:
        lists: a gold table of lists (``surface.items_column`` and ``scores`` arrays).
        available: ``item_id`` of items for sale; any other item (sold, deleted, unknown) is unavailable.
        seen: ``user_id, item_id`` pairs never to recommend (user lists only).
        sellers: ``item_id, seller_id`` (user lists only: own listings).
    """
    keys, items = list(surface.keys), surface.items_column
    # "_item": a similar-items list is keyed by item_id itself
    entries = lists.select(*keys, F.explode(items).alias("_item"))
    entries = entries.join(
        available.select(F.col("item_id").alias("_item")).distinct().withColumn("_available", F.lit(1)), "_item", "left"
    )
    counts = [F.sum(F.when(F.col("_available").isNull(), 1).otherwise(0)).alias("unavailable_items")]
    if surface.per_user:
        if seen is None or sellers is None:
            raise ValueError(f"{surface.table}: per-user checks need the seen pairs and the sellers")
        seen = seen.select("user_id", F.col("item_id").alias("_item")).distinct().withColumn("_seen", F.lit(1))
        entries = entries.join(seen, ["user_id", "_item"], "left")
        entries = entries.join(
            sellers.select(F.col("item_id").alias("_item"), F.col("seller_id").alias("_seller")), "_item", "left"
        )
        counts += [
            F.sum(F.coalesce("_seen", F.lit(0))).alias("seen_items"),
            F.sum(F.when(F.col("_seller") == F.col("user_id"), 1).otherwise(0)).alias("own_items"),
        ]
    per_list = entries.groupBy(*keys).agg(*counts)
    checks = (
        lists.transform(with_encoding_check(items))
        .select(
            *keys,
            F.size(items).alias("length"),
            (F.size(items) - F.size(F.array_distinct(items))).alias("duplicate_items"),
            (F.col("scores") == F.sort_array("scores", asc=False)).alias("scores_sorted"),
            (F.size(items) == F.size("scores")).alias("aligned"),
            "encoded_matches",
            *([F.array_contains(items, F.col("item_id")).cast("int").alias("self_items")] if surface.per_item else []),
        )
        .join(per_list, keys, "left")
    )
    return checks.fillna(0, [column for column in ZERO_COUNTS if column in checks.columns])


def require_encoded_lists(lists: DataFrame, table: str) -> DataFrame:
    """``lists`` unchanged, or a clear error when the table predates the stored R1 bytes (``encoded_list``)."""
    if "encoded_list" not in lists.columns:
        raise DataQualityError(
            f"table {table} has no column encoded_list (rule {table}.encoded_list.present): it was written before "
            "lists carried the bytes Redis serves; rerun `recpipe candidates`"
        )
    return lists


def encoded_rule(surface: ListSurface) -> str:
    return f"{surface.table}.encoded_list.matches_items"


def list_rule(surface: ListSurface, column: str) -> str:
    return f"{surface.table}.{surface.items_column}.{ZERO_COUNTS.get(column, column)}"


@dataclass(frozen=True)
class ListRule:
    """A per-list rule of a surface: its name, the check-frame column it reads, and when a list breaks it."""

    name: str
    expectation: str  # the row-level expectation the rule stands for (the report's wording)
    column: str
    broken: Column
    max_share: float = 0.0  # the share of lists that may break it


def list_rules(
    surface: ListSurface, columns: list[str], min_length: int, max_short_share: float = 0.0
) -> list[ListRule]:
    """Every per-list rule of a surface's check frame (``columns``: the frame's columns); the one home of their
    names, read by the gate's counts and by the quarantine of failing lists."""
    between, in_set = "expect_column_values_to_be_between", "expect_column_values_to_be_in_set"
    rules = [
        ListRule(list_rule(surface, column), between, column, F.col(column) > 0)
        for column in ZERO_COUNTS
        if column in columns
    ]
    rules += [
        ListRule(f"{surface.table}.scores.sorted_descending", in_set, "scores_sorted", ~F.col("scores_sorted")),
        ListRule(f"{surface.table}.scores.aligned_with_items", in_set, "aligned", ~F.col("aligned")),
        ListRule(encoded_rule(surface), in_set, "encoded_matches", ~F.col("encoded_matches")),
    ]
    if surface.per_user:
        rules.append(
            ListRule(
                f"{surface.table}.{surface.items_column}.min_length",
                between,
                "length",
                F.col("length") < min_length,
                max_short_share,
            )
        )
    return rules


def failing_lists(checks: DataFrame, surface: ListSurface, rules: list[ListRule]) -> DataFrame:
    """The lists that break a rule, with every rule they break: the gate's quarantine."""
    failed = F.filter(F.array(*[F.when(rule.broken, F.lit(rule.name)) for rule in rules]), lambda r: r.isNotNull())
    return (
        checks.withColumn("failed_rules", failed)
        .where(F.size("failed_rules") > 0)
        .select(
            F.lit(surface.table).alias("table"),
            F.to_json(F.struct(*[F.col(k) for k in surface.keys])).alias("record"),
            "failed_rules",
            F.concat_ws("; ", "failed_rules").alias("reason"),
        )
    )


# --- run-level figures -------------------------------------------------------------------------------------


def list_entries(user_lists: DataFrame, n: int | None = None) -> DataFrame:
    """``user_id, position, item_id, score`` of every list entry (the first ``n`` when given)."""
    entries = user_lists.select("user_id", "scores", F.posexplode("item_ids").alias("position", "item_id"))
    entries = entries.withColumn("score", F.col("scores")[F.col("position")]).drop("scores")
    return entries.where(F.col("position") < n) if n else entries


def run_figures(
    user_lists: DataFrame,
    users: DataFrame,
    available: DataFrame,
    previous: DataFrame | None,
    item_status: DataFrame,
    config: ListGateConfig,
) -> dict[str, Any]:
    """Run-level figures of today's user lists, and their change against the previous published lists, computed in
    one Spark job (one-row aggregates joined into one row).

    Args:
        user_lists: today's gold.user_candidates.
        users: every user who must have a list.
        available: ``item_id`` of items for sale (the catalog coverage is measured against).
        previous: the previously published gold.user_candidates (time travel), or None on a first run.
        item_status: ``item_id, status`` now: depletion counts previous entries whose item has sold since.
    """
    n = config.overlap_at
    catalog = available.select("item_id").distinct().agg(F.count(F.lit(1)).alias("catalog"))
    listed = list_entries(user_lists).groupBy("item_id").count()
    by_count = Window.orderBy(F.col("count").desc(), F.col("item_id"))
    top_items = F.greatest(F.lit(1), F.ceil(F.col("catalog") / 100))  # the most listed 1% of the catalog
    concentration = (
        listed.withColumn("_rank", F.row_number().over(by_count))
        .crossJoin(catalog)
        .agg(
            F.count(F.lit(1)).alias("listed_items"),
            (F.sum(F.when(F.col("_rank") <= top_items, F.col("count"))) / F.sum("count")).alias("top_items_share"),
        )
    )
    today = user_lists.agg(
        F.count(F.lit(1)).alias("lists"),
        F.avg(F.when(F.col("source") == PERSONAL_SOURCE, 0.0).otherwise(1.0)).alias("fallback_share"),
    )
    has_list = user_lists.select("user_id").distinct().withColumn("_listed", F.lit(1))
    coverage_of_users = (
        users.select("user_id")
        .distinct()
        .join(has_list, "user_id", "left")
        .agg(F.count(F.lit(1)).alias("users"), F.count(F.when(F.col("_listed").isNull(), 1)).alias("users_missing"))
    )
    figures_row = catalog.crossJoin(concentration).crossJoin(today).crossJoin(coverage_of_users)
    figures_row = figures_row.crossJoin(_median_personal_score(user_lists, n, "median_score"))
    if previous is not None:
        figures_row = figures_row.crossJoin(_previous_figures(previous, user_lists, item_status, n))
    row = one_row(figures_row).asDict()  # the one Spark job
    catalog_size = row["catalog"]
    coverage = row["listed_items"] / catalog_size if catalog_size else 0.0
    median = None if row["median_score"] is None else float(row["median_score"])
    figures = {
        "users": row["users"],
        "users_missing": row["users_missing"],
        "lists": row["lists"],
        "coverage": coverage,
        "fallback_share": float(row["fallback_share"] or 0.0),
        "top_items_share": float(row["top_items_share"] or 0.0),
        "median_score": median,
        "overlap_at_n": None,
        "coverage_change": None,
        "score_shift": None,
        "depletion": None,
    }
    if previous is not None:
        before_coverage = row["previous_listed_items"] / catalog_size if catalog_size else 0.0
        figures.update(
            overlap_at_n=_float_or_none(row["overlap"]),
            coverage_change=_ratio_change(coverage, before_coverage),
            score_shift=_ratio_change(median, _float_or_none(row["previous_median_score"])),
            depletion=_float_or_none(row["depletion"]),
        )
    return figures


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _ratio_change(now: float | None, before: float | None) -> float | None:
    if now is None or before is None or before == 0:
        return None
    return (now - before) / abs(before)


def _median_personal_score(user_lists: DataFrame, n: int, name: str) -> DataFrame:
    """Median of the first ``n`` scores of personal (model) lists: the level the score-shift rule compares."""
    personal = user_lists.where(F.col("source") == PERSONAL_SOURCE)
    return list_entries(personal, n).agg(F.percentile_approx("score", 0.5).alias(name))


def _previous_figures(previous: DataFrame, today: DataFrame, item_status: DataFrame, n: int) -> DataFrame:
    """One row about the previously published lists: overlap at ``n`` with today's, items listed, score level,
    depletion (the share of their entries whose item has sold since)."""
    top = lambda df: df.select("user_id", F.slice("item_ids", 1, n).alias("top"))
    overlap = (
        top(previous)
        .alias("p")
        .join(top(today).alias("t"), "user_id")
        .agg(F.avg(F.size(F.array_intersect("p.top", "t.top")) / F.least(F.lit(n), F.size("p.top"))).alias("overlap"))
    )
    entries = list_entries(previous)
    sold = item_status.where(F.col("status") == "sold").select("item_id").withColumn("_sold", F.lit(1.0))
    depletion = entries.join(sold, "item_id", "left").agg(F.avg(F.coalesce("_sold", F.lit(0.0))).alias("depletion"))
    listed = entries.select("item_id").distinct().agg(F.count(F.lit(1)).alias("previous_listed_items"))
    return (
        overlap.crossJoin(depletion)
        .crossJoin(listed)
        .crossJoin(_median_personal_score(previous, n, "previous_median_score"))
    )


RUN_RULES = {  # figure -> rule name
    "users_missing": "gold.user_candidates.user_id.every_user_covered",
    "coverage": "gold.user_candidates.item_ids.catalog_coverage",
    "fallback_share": "gold.user_candidates.source.fallback_share",
    "overlap_at_n": "previous_run.item_ids.overlap_at_n",
    "coverage_change": "previous_run.item_ids.coverage_change",
    "score_shift": "previous_run.scores.median_shift",
    "top_seller_share": "gold.user_candidates.seller_id.max_exposure_share",
}


def run_bounds(config: ListGateConfig) -> dict[str, tuple[float | None, float | None]]:
    """Allowed ``[min, max]`` of each run-level figure (None: open)."""
    return {
        "users_missing": (0, config.max_missing_users),
        "coverage": (config.min_coverage, config.max_coverage),
        "fallback_share": (0, config.max_fallback_share),
        "overlap_at_n": (config.min_overlap, None),
        "coverage_change": (-config.max_coverage_change, config.max_coverage_change),
        "score_shift": (-config.max_score_shift, config.max_score_shift),
        "top_seller_share": (0, config.max_seller_exposure_share),
    }


def run_expectations(config: ListGateConfig) -> list[gx.expectations.Expectation]:
    """Expectations on the one-row figures frame; a figure that is null (no previous run) is not judged."""
    import great_expectations as gx  # here, not at the top: a job's --help must not pay for its import

    return [
        gx.expectations.ExpectColumnValuesToBeBetween(
            column=figure, min_value=low, max_value=high, meta={"rule": RUN_RULES[figure]}
        )
        for figure, (low, high) in run_bounds(config).items()
    ]
