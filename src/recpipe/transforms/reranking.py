"""The re-ranking step on Spark: each ranked list (deeper than served) re-ranked on the executors by
``models.reranking`` with the listings' style (seller, category, brand, vector, new seller) broadcast once. The
batch lists and the fresh overlays both pass through ``reranked``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from math import ceil

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark import Broadcast
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from recpipe.config.responsible import RerankConfig
from recpipe.models.reranking import Knobs, monotone_scores, rerank, style_similarity
from recpipe.transforms.interactions import Transform


@dataclass(frozen=True)
class ListingStyle:
    """Per listing (sorted by id): seller, category and brand codes, unit vector (zeros: none), new seller. An
    unknown id maps to the last row: no category, brand or vector shared with anything, not new."""

    item_ids: np.ndarray
    sellers: np.ndarray
    categories: np.ndarray
    brands: np.ndarray
    vectors: np.ndarray
    new_seller: np.ndarray

    @classmethod
    def from_pandas(cls, frame: pd.DataFrame, dimensions: int) -> ListingStyle:
        """``frame``: ``item_id, seller_id, category, brand, new_seller, factors`` (factors may be null)."""
        frame = frame.sort_values("item_id", ignore_index=True)
        n = len(frame)
        vectors = np.zeros((n + 1, max(dimensions, 1)), dtype=np.float32)
        for i, factors in enumerate(frame["factors"]):
            if factors is not None and len(factors):
                vector = np.asarray(factors, dtype=np.float32)
                norm = float(np.linalg.norm(vector))
                if norm > 0:
                    vectors[i, : len(vector)] = vector / norm
        codes = lambda column: np.append(pd.factorize(frame[column])[0], -1)
        return cls(
            item_ids=frame["item_id"].to_numpy(np.int64),
            sellers=np.append(frame["seller_id"].to_numpy(np.int64), -1),
            categories=codes("category"),
            brands=codes("brand"),
            vectors=vectors,
            new_seller=np.append(frame["new_seller"].to_numpy(bool), False),
        )

    def rows(self, item_ids: np.ndarray) -> np.ndarray:
        """Row of each id; the unknown row for an id not in the table."""
        n = len(self.item_ids)
        if n == 0:
            return np.zeros(len(item_ids), dtype=np.int64)
        found = np.minimum(np.searchsorted(self.item_ids, item_ids), n - 1)
        return np.where(self.item_ids[found] == item_ids, found, n)

    def similarity(self, rows: np.ndarray) -> np.ndarray:
        categories, brands = self.categories[rows].copy(), self.brands[rows].copy()
        unknown = np.flatnonzero(rows == len(self.item_ids))
        categories[unknown] = brands[unknown] = -1 - unknown  # unknown listings share nothing, not even with each other
        return style_similarity(categories, brands, self.vectors[rows].astype(np.float64))


@dataclass(frozen=True)
class Reranking:
    """The broadcast listing style and the knobs: what ``ranked_lists`` needs to re-rank."""

    style: Broadcast
    knobs: Knobs
    pool_factor: float

    def pool(self, length: int) -> int:
        """How many of the ranker's best candidates a list of ``length`` is re-ranked from."""
        return ceil(length * self.pool_factor)


def knobs(config: RerankConfig) -> Knobs:
    return Knobs(config.diversity_weight, config.seller_discount, config.new_seller_share)


def listing_style(listings: DataFrame, new_sellers: DataFrame, vectors: DataFrame | None) -> pd.DataFrame:
    """``item_id, seller_id, category, brand, new_seller, factors`` of ``listings`` (collected for broadcast)."""
    flagged = listings.select("item_id", "seller_id", "category", "brand").join(
        new_sellers.select("seller_id", F.lit(True).alias("new_seller")), "seller_id", "left"
    )
    flagged = flagged.withColumn("new_seller", F.coalesce("new_seller", F.lit(False)))
    if vectors is None:
        return flagged.withColumn("factors", F.lit(None).cast("array<float>")).toPandas()
    return flagged.join(vectors.select("item_id", "factors"), "item_id", "left").toPandas()


def broadcast_reranking(spark: SparkSession, style: pd.DataFrame, config: RerankConfig) -> Reranking | None:
    """The re-ranking of ``config`` over ``style`` (``listing_style``'s frame); None when every knob is 0."""
    chosen = knobs(config)
    if not chosen.active:
        return None
    present = style["factors"].dropna()
    dimensions = max((len(v) for v in present), default=0)
    table = ListingStyle.from_pandas(style, dimensions)
    return Reranking(spark.sparkContext.broadcast(table), chosen, config.pool_factor)


def rerank_list(table: ListingStyle, item_ids, scores, length: int, chosen: Knobs) -> np.ndarray:
    """Positions into ``item_ids`` of one list re-ranked to at most ``length``."""
    ids = np.asarray(item_ids, dtype=np.int64)
    rows = table.rows(ids)
    return rerank(
        np.asarray(scores), table.similarity(rows), table.sellers[rows], table.new_seller[rows], length, chosen
    )


def reranked(reranking: Reranking, length: int) -> Transform:
    """``user_id, item_ids, scores, item_sources`` (best first, a pool deeper than ``length``) -> the same columns
    re-ranked to at most ``length`` items; scores capped by the one above (sorted, on the ranker's scale)."""

    def rerank_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        table = reranking.style.value
        for batch in batches:
            frame = batch.to_pandas()
            items, scores, sources = [], [], []
            for ids, values, origins in zip(frame["item_ids"], frame["scores"], frame["item_sources"], strict=True):
                order = rerank_list(table, ids, values, length, reranking.knobs)
                items.append(np.asarray(ids)[order])
                scores.append(monotone_scores(np.asarray(values, dtype=np.float64)[order]).astype(np.float32))
                sources.append(np.asarray(origins, dtype=object)[order])
            out = frame.assign(item_ids=items, scores=scores, item_sources=sources)
            yield pa.RecordBatch.from_pandas(out, schema=batch.schema, preserve_index=False)

    def transform(lists: DataFrame) -> DataFrame:
        return lists.mapInArrow(rerank_batches, lists.schema)

    return transform
