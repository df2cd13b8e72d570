"""What the gate checks in the gold lists before they are published.

Per list (one row per list, reported through Great Expectations): no sold or deleted item, no item the user has
seen or sells, no duplicate, scores sorted, arrays aligned, a minimum length. Per run (one row, also through
Great Expectations): every user covered, catalog coverage and the share of users on fallback within bounds, and
the change against the previously published lists (overlap at N, coverage, score level). Depletion and
popularity concentration are measured here too, for the run record.
"""

from __future__ import annotations

from dataclasses import dataclass

import great_expectations as gx
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recpipe.config import QualityGateConfig
from recpipe.quality.rules import DataQualityError
from recpipe.transforms.candidates import PERSONAL_SOURCE

E = gx.expectations

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
    ListSurface("gold.user_candidates", ("user_id",), "item_ids", per_user=True),
    ListSurface("gold.similar_items", ("item_id", "source"), "similar_item_ids", per_item=True),
    ListSurface("gold.fallback_candidates", ("segment",), "item_ids"),
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
    entries = entries.join(available.select(F.col("item_id").alias("_item")).distinct().withColumn("_available", F.lit(1)), "_item", "left")
    counts = [F.sum(F.when(F.col("_available").isNull(), 1).otherwise(0)).alias("unavailable_items")]
    if surface.per_user:
        seen = seen.select("user_id", F.col("item_id").alias("_item")).distinct().withColumn("_seen", F.lit(1))
        entries = entries.join(seen, ["user_id", "_item"], "left")
        entries = entries.join(sellers.select(F.col("item_id").alias("_item"), F.col("seller_id").alias("_seller")), "_item", "left")
        counts += [F.sum(F.coalesce("_seen", F.lit(0))).alias("seen_items"),
                   F.sum(F.when(F.col("_seller") == F.col("user_id"), 1).otherwise(0)).alias("own_items")]
    per_list = entries.groupBy(*keys).agg(*counts)
    checks = lists.select(
        *keys,
        F.size(items).alias("length"),
        (F.size(items) - F.size(F.array_distinct(items))).alias("duplicate_items"),
        (F.col("scores") == F.sort_array("scores", asc=False)).alias("scores_sorted"),
        (F.size(items) == F.size("scores")).alias("aligned"),
        encoded_matches(items).alias("encoded_matches"),
        *([F.array_contains(items, F.col("item_id")).cast("int").alias("self_items")] if surface.per_item else []),
    ).join(per_list, keys, "left")
    return checks.fillna(0, [column for column in ZERO_COUNTS if column in checks.columns])


def encoded_matches(items: str) -> Column:
    """Whether ``encoded_list`` is a well-formed R1 value of the row's list: magic, id width, item count, byte
    length and the first id (the bytes Redis will serve must say what the arrays say)."""
    byte = lambda at: f"conv(hex(substring(encoded_list, {at}, 1)), 16, 10)"  # noqa: E731
    width, count = f"CAST({byte(3)} AS INT)", f"(CAST({byte(4)} AS INT) + 256 * CAST({byte(5)} AS INT))"
    # the first id's bytes, most significant first (greatest: a malformed width must not break the sequence)
    first_id = f"conv(concat_ws('', transform(sequence(greatest({width}, 1) + 5, 6, -1), p -> hex(substring(encoded_list, p, 1)))), 16, 10)"
    return F.coalesce(F.expr(
        f"substring(encoded_list, 1, 2) = X'5231' AND {width} IN (4, 8) AND {count} = size({items}) "
        f"AND octet_length(encoded_list) = 5 + ({width} + 4) * {count} "
        f"AND (size({items}) = 0 OR {first_id} = CAST(element_at({items}, 1) AS STRING))"
    ), F.lit(False))


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


def list_expectations(
    surface: ListSurface, checks: DataFrame, min_length: int, max_short_share: float = 0.0
) -> list[gx.expectations.Expectation]:
    """The expectations of one surface's check frame; ``meta.rule`` is the name reports and errors show."""
    expectations = [
        E.ExpectColumnValuesToBeBetween(column=column, min_value=0, max_value=0, meta={"rule": list_rule(surface, column)})
        for column in ZERO_COUNTS
        if column in checks.columns
    ]
    expectations += [
        E.ExpectColumnValuesToBeInSet(column="scores_sorted", value_set=[True], meta={"rule": f"{surface.table}.scores.sorted_descending"}),
        E.ExpectColumnValuesToBeInSet(column="aligned", value_set=[True], meta={"rule": f"{surface.table}.scores.aligned_with_items"}),
        E.ExpectColumnValuesToBeInSet(column="encoded_matches", value_set=[True], meta={"rule": encoded_rule(surface)}),
    ]
    if surface.per_user:
        expectations.append(E.ExpectColumnValuesToBeBetween(
            column="length", min_value=min_length, mostly=1.0 - max_short_share,
            meta={"rule": f"{surface.table}.{surface.items_column}.min_length"}))
    return expectations


def failing_lists(checks: DataFrame, surface: ListSurface, min_length: int) -> DataFrame:
    """The lists that break a rule, with every rule they break: the gate's quarantine."""
    broken = [F.when(F.col(c) > 0, F.lit(list_rule(surface, c))) for c in ZERO_COUNTS if c in checks.columns]
    broken += [F.when(~F.col("scores_sorted"), F.lit(f"{surface.table}.scores.sorted_descending")),
               F.when(~F.col("aligned"), F.lit(f"{surface.table}.scores.aligned_with_items")),
               F.when(~F.col("encoded_matches"), F.lit(encoded_rule(surface)))]
    if surface.per_user:
        broken.append(F.when(F.col("length") < min_length, F.lit(f"{surface.table}.{surface.items_column}.min_length")))
    failed = F.filter(F.array(*broken), lambda r: r.isNotNull())
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
    config: QualityGateConfig,
) -> DataFrame:
    """One row of run-level figures of today's user lists, and their change against the previous published lists.

    Args:
        user_lists: today's gold.user_candidates.
        users: every user who must have a list.
        available: ``item_id`` of items for sale (the catalog coverage is measured against).
        previous: the previously published gold.user_candidates (time travel), or None on a first run.
        item_status: ``item_id, status`` now: depletion counts previous entries whose item has sold since.
    """
    n = config.overlap_at
    entries = list_entries(user_lists)
    catalog = available.select("item_id").distinct().count()
    listed = entries.groupBy("item_id").count()
    top_items = max(1, -(-catalog // 100))  # the most listed 1% of the catalog
    by_count = Window.orderBy(F.col("count").desc(), F.col("item_id"))
    top_share = listed.withColumn("_rank", F.row_number().over(by_count)).agg(
        (F.sum(F.when(F.col("_rank") <= top_items, F.col("count"))) / F.sum("count")).alias("v")
    ).first()["v"]
    today = user_lists.agg(
        F.count(F.lit(1)).alias("lists"),
        F.avg(F.when(F.col("source") == PERSONAL_SOURCE, 0.0).otherwise(1.0)).alias("fallback_share"),
    ).first()
    has_list = user_lists.select("user_id").distinct().withColumn("_listed", F.lit(1))
    coverage_of_users = users.select("user_id").distinct().join(has_list, "user_id", "left").agg(
        F.count(F.lit(1)).alias("users"), F.count(F.when(F.col("_listed").isNull(), 1)).alias("missing")
    ).first()  # one pass for both counts
    figures = {
        "users": coverage_of_users["users"],
        "users_missing": coverage_of_users["missing"],
        "lists": today["lists"],
        "coverage": listed.count() / catalog if catalog else 0.0,
        "fallback_share": float(today["fallback_share"] or 0.0),
        "top_items_share": float(top_share or 0.0),
        "median_score": _median_personal_score(user_lists, n),
        "overlap_at_n": None, "coverage_change": None, "score_shift": None, "depletion": None,
    }
    if previous is not None:
        before = run_figures_previous(previous, user_lists, catalog, item_status, n)
        figures.update(
            overlap_at_n=before["overlap"],
            coverage_change=_ratio_change(figures["coverage"], before["coverage"]),
            score_shift=_ratio_change(figures["median_score"], before["median_score"]),
            depletion=before["depletion"],
        )
    spark = user_lists.sparkSession
    schema = ", ".join(f"{k} {'long' if k in ('users', 'users_missing', 'lists') else 'double'}" for k in figures)
    return spark.createDataFrame([tuple(figures.values())], schema)


def _ratio_change(now: float | None, before: float | None) -> float | None:
    if now is None or before is None or before == 0:
        return None
    return (now - before) / abs(before)


def _median_personal_score(user_lists: DataFrame, n: int) -> float | None:
    """Median of the first ``n`` scores of personal (model) lists: the level the score-shift rule compares."""
    row = list_entries(user_lists.where(F.col("source") == PERSONAL_SOURCE), n).agg(F.percentile_approx("score", 0.5).alias("m")).first()
    return None if row["m"] is None else float(row["m"])


def run_figures_previous(previous: DataFrame, today: DataFrame, catalog: int, item_status: DataFrame, n: int) -> dict:
    """Figures of the previously published lists: overlap at ``n`` with today's, coverage, score level, depletion."""
    top = lambda df: df.select("user_id", F.slice("item_ids", 1, n).alias("top"))  # noqa: E731
    overlap = (
        top(previous).alias("p").join(top(today).alias("t"), "user_id")
        .agg(F.avg(F.size(F.array_intersect("p.top", "t.top")) / F.least(F.lit(n), F.size("p.top"))).alias("v"))
        .first()["v"]
    )
    entries = list_entries(previous)
    sold = item_status.where(F.col("status") == "sold").select("item_id").withColumn("_sold", F.lit(1.0))
    depletion = entries.join(sold, "item_id", "left").agg(F.avg(F.coalesce("_sold", F.lit(0.0))).alias("v")).first()["v"]
    return {
        "overlap": None if overlap is None else float(overlap),
        "coverage": entries.select("item_id").distinct().count() / catalog if catalog else 0.0,
        "median_score": _median_personal_score(previous, n),
        "depletion": None if depletion is None else float(depletion),
    }


RUN_RULES = {  # figure -> rule name
    "users_missing": "gold.user_candidates.user_id.every_user_covered",
    "coverage": "gold.user_candidates.item_ids.catalog_coverage",
    "fallback_share": "gold.user_candidates.source.fallback_share",
    "overlap_at_n": "previous_run.item_ids.overlap_at_n",
    "coverage_change": "previous_run.item_ids.coverage_change",
    "score_shift": "previous_run.scores.median_shift",
}


def run_bounds(config: QualityGateConfig) -> dict[str, tuple[float | None, float | None]]:
    """Allowed ``[min, max]`` of each run-level figure (None: open)."""
    return {
        "users_missing": (0, config.max_missing_users),
        "coverage": (config.min_coverage, config.max_coverage),
        "fallback_share": (0, config.max_fallback_share),
        "overlap_at_n": (config.min_overlap, None),
        "coverage_change": (-config.max_coverage_change, config.max_coverage_change),
        "score_shift": (-config.max_score_shift, config.max_score_shift),
    }


def run_expectations(config: QualityGateConfig) -> list[gx.expectations.Expectation]:
    """Expectations on the one-row figures frame; a figure that is null (no previous run) is not judged."""
    return [
        E.ExpectColumnValuesToBeBetween(column=figure, min_value=low, max_value=high, meta={"rule": RUN_RULES[figure]})
        for figure, (low, high) in run_bounds(config).items()
    ]
