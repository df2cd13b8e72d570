"""Fresh overlays as Spark transforms: which listings are new, and the merge of the scored lists with the overlay
each user is served now (on the executors, one Arrow batch at a time, by ``models.merge``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark import Broadcast
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from recpipe.models.merge import RankedRows, merge_ranked
from recpipe.serving import encoding
from recpipe.serving.connection import RedisTarget
from recpipe.serving.overlays import LiveOverlay, read_overlays
from recpipe.transforms.availability import GONE_STATUSES
from recpipe.transforms.candidates import SCORED_SCHEMA, own_listings
from recpipe.transforms.interactions import Transform

OVERLAY_SCHEMA = SCORED_SCHEMA.format(key="user_id")


def listed_after(since: datetime, until: datetime | None = None) -> Transform:
    """Listings listed after ``since`` (and, when given, by ``until``)."""

    def transform(items: DataFrame) -> DataFrame:
        listed = items.where(F.col("listed_at") > F.lit(since))
        return listed if until is None else listed.where(F.col("listed_at") <= F.lit(until))

    return transform


def for_sale_at(until: datetime | None) -> Column:
    """True where a listing was for sale at ``until`` (None: now, its current status); a row sold or deleted
    later was still active then (replays of a past day)."""
    if until is None:
        return F.col("status") == "active"
    ended = F.coalesce(*[F.col(c) for c in ("sold_at", "deleted_at")], F.lit(None).cast("timestamp"))
    return (F.col("status") == "active") | (F.col("status").isin(*GONE_STATUSES) & (ended > F.lit(until)))


def new_listings(since: datetime, gone: DataFrame, until: datetime | None = None) -> Transform:
    """Listings listed after ``since`` (by ``until``) and still for sale: active then and not sold or deleted
    since (``gone``: ``item_id`` from ``transforms.availability``, e.g. a purchase its row does not show yet)."""

    def transform(items: DataFrame) -> DataFrame:
        return (
            items.transform(listed_after(since, until))
            .where(for_sale_at(until))
            .join(gone.select("item_id"), "item_id", "left_anti")
        )

    return transform


def own_new_listings(listings: DataFrame) -> DataFrame:
    """``user_id, exclude``: each seller's own new listings, never in their overlay."""
    return own_listings(listings).groupBy("user_id").agg(F.array_sort(F.collect_set("item_id")).alias("exclude"))


def _rows(batch: pa.RecordBatch, ids: str, scores: str) -> RankedRows:
    lengths = pc.list_value_length(batch.column(ids)).fill_null(0).to_numpy(zero_copy_only=False)
    return RankedRows(
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        pc.list_flatten(batch.column(ids)).to_numpy(zero_copy_only=False).astype(np.int64),
        pc.list_flatten(batch.column(scores)).to_numpy(zero_copy_only=False).astype(np.float32),
    )


def _decoded(values: list[bytes | None]) -> RankedRows:
    return RankedRows(*encoding.decode_many(values))


def merged_with_served(target: RedisTarget, previous: LiveOverlay | None, gone: Broadcast, length: int) -> Transform:
    """Scored overlays (``user_id, item_ids, scores``) merged by score with each user's ``previous`` overlay as
    served (read from Redis on the executors, one pipelined round trip per Arrow batch: no shuffle), the ``gone``
    item ids (a sorted numpy array, broadcast) dropped, ``length`` kept: ``user_id, item_ids, scores,
    encoded_list``."""

    def merge(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        drop = gone.value
        assert previous is not None  # mapped only when there is a served overlay (transform below)
        client = target.client()
        for batch in batches:
            users = batch.column("user_id").to_numpy(zero_copy_only=False).tolist()
            served = _decoded(read_overlays(client, previous, users))
            merged, _ = merge_ranked([_rows(batch, "item_ids", "scores"), served], length, drop)
            offsets = pa.array(merged.offsets.astype(np.int32))
            item_ids = pa.ListArray.from_arrays(offsets, pa.array(merged.ids, pa.int64()))
            scores = pa.ListArray.from_arrays(offsets, pa.array(merged.scores, pa.float32()))
            yield pa.RecordBatch.from_arrays(
                [batch.column("user_id"), item_ids, scores, encoding.encode_arrow(item_ids, scores)],
                names=["user_id", "item_ids", "scores", "encoded_list"],
            )
        client.close()

    def transform(scored: DataFrame) -> DataFrame:
        if previous is None:  # the first overlay of these lists: the scored lists are it (new listings are for sale)
            return scored.select("user_id", "item_ids", "scores", "encoded_list")
        return scored.select("user_id", "item_ids", "scores").mapInArrow(merge, OVERLAY_SCHEMA)

    return transform
