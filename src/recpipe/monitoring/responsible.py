"""Responsible-recommendation measures of what ships: who gets exposure (sellers, new sellers, fresh listings), how
diverse and novel the lists are, how much of the catalog they cover, and how recall differs across buyer segments,
with bootstrap intervals. Computed by the gate (the lists, every run) and by evaluate (parity, once the days after
have passed); kept in monitoring.responsible_measures and the run record's ``responsible`` map."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.config import Settings
from recpipe.config.responsible import MeasuresConfig
from recpipe.monitoring import served_evaluation
from recpipe.run_day import as_of_end
from recpipe.tables import Tables, one_row, to_pandas
from recpipe.transforms import list_measures
from recpipe.transforms.future_scoring import future_targets
from recpipe.transforms.interactions import listings_for_sale

log = logging.getLogger(__name__)

SEGMENT_DIMENSIONS = ("country", "size_class", "price_level", "tenure")
LIST_DIMENSION = "lists"  # the dimension of whole-run measures in monitoring.responsible_measures
PARITY_RATIO = "worst_to_best_recall"
SEGMENT_RECALL = "recall"  # measure of a segment's own recall rows


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative ``values`` (0: equal; near 1: one holds everything); 0 when all are 0."""
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(x), float(x.sum())
    if n == 0 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float(2 * (ranks * x).sum() / (n * total) - (n + 1) / n)


def top_share(values: np.ndarray, share: float) -> float:
    """The share of the total held by the top ``share`` of holders (at least one)."""
    x = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    total = float(x.sum())
    if total <= 0:
        return 0.0
    top = max(1, int(np.ceil(share * len(x))))
    return float(x[:top].sum() / total)


def normalized_entropy(values: np.ndarray, population: int) -> float:
    """Shannon entropy of the shares of ``values`` over the log of ``population`` (1: exposure spread evenly over
    every one of them; distributional coverage)."""
    x = np.asarray(values, dtype=np.float64)
    x = x[x > 0]
    if population <= 1 or x.sum() <= 0:
        return 0.0
    p = x / x.sum()
    return float(-(p * np.log(p)).sum() / np.log(population))


@dataclass(frozen=True)
class ServedInputs:
    """What the list measures read: the served lists (``user_id, item_ids``), the listings for sale at the as-of
    (``item_id, seller_id, category, brand, listed_at``), every listing (new sellers), the interactions the lists
    were built from (novelty: ``user_id, item_id``), the model's listing vectors (``item_id, factors`` or None) and the as-of's end."""

    lists: DataFrame
    live: DataFrame
    items: DataFrame
    interactions: DataFrame
    vectors: DataFrame | None
    end: datetime


def measure_lists(inputs: ServedInputs, config: MeasuresConfig) -> dict[str, float]:
    """Exposure, diversity, novelty and coverage of the served lists (names in README, "Responsible
    recommendations")."""
    entries = list_measures.exposure_entries(inputs.lists, config.exposure_depth).cache()
    live = inputs.live
    sellers = to_pandas(list_measures.seller_exposure(entries, live).select("exposure"))["exposure"].to_numpy()
    shown = list_measures.item_exposure(entries.join(live.select("item_id"), "item_id"))
    items = to_pandas(shown.select("exposure"))["exposure"].to_numpy()
    catalog_size = live.count()
    every_listing = np.concatenate([items, np.zeros(max(0, catalog_size - len(items)))])  # unshown listings: 0
    new = list_measures.new_sellers(inputs.items, inputs.end, config.new_seller_days)
    shares = one_row(list_measures.exposure_shares(entries, live, new, inputs.end, config.fresh_listing_hours))
    top = entries.where(F.col("position") < config.diversity_depth)
    diversity = list_measures.list_diversity(top, live, inputs.vectors).join(
        list_measures.novelty(top, inputs.interactions), "user_id", "left"
    )
    means = one_row(
        diversity.agg(
            F.avg("category_diversity").alias("category_diversity"),
            F.avg("brand_diversity").alias("brand_diversity"),
            F.avg("vector_diversity").alias("vector_diversity"),
            F.avg("categories").alias("categories_in_top"),
            F.avg("novelty").alias("novelty"),
        )
    )
    entries.unpersist()
    total = float(sellers.sum())
    figures = {
        "live_sellers": float(len(sellers)),
        "seller_gini": gini(sellers),
        "top_sellers_share": top_share(sellers, 0.01),
        "top_seller_share": float(sellers.max() / total) if total > 0 else 0.0,
        "sellers_exposed": float((sellers > 0).mean()) if len(sellers) else 0.0,
        "new_seller_exposure_share": float(shares["new_seller_exposure_share"] or 0.0),
        "fresh_listing_exposure_share": float(shares["fresh_listing_exposure_share"] or 0.0),
        "item_gini": gini(every_listing),
        "top_items_exposure_share": top_share(every_listing, 0.01),
        "catalog_coverage": float(len(items) / catalog_size) if catalog_size else 0.0,
        "distributional_coverage": normalized_entropy(items, catalog_size),
    }
    figures.update({name: float(value) for name, value in means.asDict().items() if value is not None})
    return figures


def bootstrap_means(values: np.ndarray, samples: int, rng: np.random.Generator) -> np.ndarray:
    """``samples`` means of resamples (with replacement) of ``values``."""
    n = len(values)
    means = np.empty(samples)
    chunk = max(1, 2_000_000 // max(n, 1))  # bounded memory: at most ~2M draws at a time
    for start in range(0, samples, chunk):
        stop = min(samples, start + chunk)
        means[start:stop] = values[rng.integers(0, n, size=(stop - start, n))].mean(axis=1)
    return means


def interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return float(low), float(high)


def segment_parity(
    buyers: pd.DataFrame, config: MeasuresConfig, dimensions: Sequence[str] = SEGMENT_DIMENSIONS
) -> pd.DataFrame:
    """Recall of each segment's buyers (``buyers``: one row per buyer, ``recall`` and a column per dimension) with
    a bootstrap interval, and per dimension the worst segment's recall over the best's (segments of at least
    ``min_segment_users`` buyers; the interval from the same resamples). Columns: ``dimension, segment, users,
    value, low, high, measure``."""
    rng = np.random.default_rng(config.seed)
    rows = []
    for dimension in dimensions:
        replicates, points, sizes = {}, {}, {}
        for segment, part in buyers.groupby(dimension, sort=True):
            values = part["recall"].to_numpy(dtype=np.float64)
            replicates[segment] = bootstrap_means(values, config.bootstrap_samples, rng)
            points[segment], sizes[segment] = float(values.mean()), len(values)
            low, high = interval(replicates[segment])
            rows.append((dimension, str(segment), len(values), points[segment], low, high, SEGMENT_RECALL))
        compared = [s for s in points if sizes[s] >= config.min_segment_users]
        if len(compared) < 2:
            continue
        worst, best = min(compared, key=points.__getitem__), max(compared, key=points.__getitem__)
        ratio = points[worst] / points[best] if points[best] > 0 else 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(replicates[best] > 0, replicates[worst] / replicates[best], 1.0)
        low, high = interval(ratios)
        users = sizes[worst] + sizes[best]
        rows.append((dimension, f"{worst} / {best}", users, ratio, low, high, PARITY_RATIO))
    return pd.DataFrame(rows, columns=["dimension", "segment", "users", "value", "low", "high", "measure"])


def parity_figures(table: pd.DataFrame) -> dict[str, float]:
    """The run record's parity figures: ``parity.<dimension>`` (worst / best recall), with ``.low``/``.high``,
    and ``parity.worst`` over every dimension."""
    ratios = table[table.measure == PARITY_RATIO]
    figures = {}
    for row in ratios.itertuples(index=False):
        figures[f"parity.{row.dimension}"] = round(row.value, 4)
        figures[f"parity.{row.dimension}.low"] = round(row.low, 4)
        figures[f"parity.{row.dimension}.high"] = round(row.high, 4)
    if len(ratios):
        figures["parity.worst"] = round(float(ratios.value.min()), 4)
    return figures


def served_inputs(tables: Tables, lists: DataFrame, as_of: date, model_version: str | None) -> ServedInputs:
    """The list measures' inputs for the lists of the run at ``as_of``: silver (listings for sale then, the run's
    interactions) and ``model_version``'s listing vectors."""
    items = tables.read(catalog.SILVER_ITEMS)
    vectors = None  # diversity by vectors is measured when the model has listing vectors
    if model_version is not None and tables.exists(catalog.GOLD_ITEM_FACTORS):
        factors = tables.read(catalog.GOLD_ITEM_FACTORS).where(F.col("model_version") == model_version)
        vectors = factors.select("item_id", "factors")
    interactions = tables.read(catalog.SILVER_INTERACTIONS)  # the run's: as of the lists
    return ServedInputs(lists, listings_for_sale(items, as_of), items, interactions, vectors, as_of_end(as_of))


def list_rows(figures: dict[str, float], lists: int) -> pd.DataFrame:
    """monitoring.responsible_measures rows of the list measures (dimension ``lists``, no interval)."""
    rows = [(name, LIST_DIMENSION, "all", lists, value, None, None) for name, value in sorted(figures.items())]
    return pd.DataFrame(rows, columns=["measure", "dimension", "segment", "users", "value", "low", "high"])


def write_measures(tables: Tables, run_id: str, as_of: date, rows: pd.DataFrame, dimensions: Sequence[str]) -> None:
    """Replace the run's rows of ``dimensions`` in monitoring.responsible_measures (a rerun writes the same)."""
    number = lambda v: None if v is None or pd.isna(v) else float(v)
    records = [
        (run_id, as_of, r.measure, r.dimension, r.segment, int(r.users), number(r.value), number(r.low), number(r.high))
        for r in rows.itertuples(index=False)
    ]
    df = tables.spark.createDataFrame(records, catalog.columns(catalog.MONITORING_RESPONSIBLE_MEASURES))
    kinds = ", ".join(f"'{d}'" for d in dimensions)
    tables.replace_where(df, catalog.MONITORING_RESPONSIBLE_MEASURES, f"run_id = '{run_id}' AND dimension IN ({kinds})")


def buyers_by_segment(
    lists: DataFrame, events: DataFrame, users: DataFrame, items: DataFrame, as_of: date, config: MeasuresConfig
) -> pd.DataFrame:
    """One row per buyer of the ``parity_horizon_days`` after ``as_of``: ``user_id, targets, hits, recall`` (their
    purchases in the first ``parity_k`` of the list served at ``as_of``) and their segment in every dimension, from
    the events before the as-of's end (each event weighs 1)."""
    end = as_of_end(as_of)
    targets = events.transform(future_targets(end, (config.parity_horizon_days,), ("purchase",)))
    recall = list_measures.buyer_recall(lists, targets, config.parity_k)
    earlier = events.where(F.col("event_ts") < F.lit(end).cast("timestamp"))
    engaged = earlier.select("user_id", "item_id", F.lit(1.0).alias("weighted"))
    signed_up = users.where(F.col("signup_ts") < F.lit(end).cast("timestamp"))  # as evaluate: users at the as-of
    segments = list_measures.user_segments(signed_up, engaged, items, end, config.new_user_days)
    return to_pandas(recall.join(segments, "user_id"))


def record_parity(
    tables: Tables,
    settings: Settings,
    lists: DataFrame,
    events: DataFrame,
    run_id: str,
    as_of: date,
    config: MeasuresConfig,
) -> dict[str, float]:
    """Recall across buyer segments of the run's lists (users, listings and events from bronze), with intervals:
    monitoring.responsible_measures rows and ``parity.*`` figures in the run record (and its MLflow run)."""
    users, items = tables.read(catalog.BRONZE_USERS), tables.read(catalog.BRONZE_ITEMS)
    table = segment_parity(buyers_by_segment(lists, events, users, items, as_of, config), config)
    write_measures(tables, run_id, as_of, table, SEGMENT_DIMENSIONS)
    figures = parity_figures(table)
    served_evaluation.record_figures(tables, settings, run_id, figures, field="responsible")
    for row in table[table.measure == PARITY_RATIO].itertuples(index=False):
        log.info(
            "parity: %s worst / best recall@%d %s = %.2f [%.2f, %.2f]",
            row.dimension, config.parity_k, row.segment, row.value, row.low, row.high,
        )  # fmt: skip
    return figures
