"""The demo's closing display: three kinds of user read back through the reader an app backend uses, labelled, with
the listings' attributes: a user with a personal list, one with a fresh-listing overlay (when one is live) and one
on a fallback list."""

from __future__ import annotations

import pandas as pd
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.serving.reader import RecommendationReader
from recpipe.tables import Tables, to_pandas
from recpipe.transforms.candidates import PERSONAL_SOURCE


def showcase_users(tables: Tables) -> list[tuple[str, int]]:
    """(label, user id): a personal user of median history, a user with a fresh overlay, a fallback user."""
    lists = tables.read(catalog.GOLD_USER_CANDIDATES)
    chosen: list[tuple[str, int]] = []
    counts = lists.where(F.col("source") == PERSONAL_SOURCE).join(
        tables.read(catalog.SILVER_INTERACTIONS).groupBy("user_id").count(), "user_id"
    )
    median = counts.approxQuantile("count", [0.5], 0.01)
    personal = counts.where(F.col("count") >= (median[0] if median else 0)).orderBy("count", "user_id").first()
    if personal is not None:
        chosen.append((f"personal list ({personal['count']} interactions)", personal.user_id))
    if tables.exists(catalog.GOLD_FRESH_OVERLAYS):
        overlay = tables.read(catalog.GOLD_FRESH_OVERLAYS).orderBy("user_id").first()
        if overlay is not None:
            chosen.append(("personal list with a fresh-listing overlay", overlay.user_id))
    fallback = lists.where(F.col("source") != PERSONAL_SOURCE).orderBy("user_id").first()
    if fallback is not None:
        chosen.append((f"fallback list ({fallback.source}: too little history)", fallback.user_id))
    return chosen


def show(tables: Tables, reader: RecommendationReader, n: int = 5) -> None:
    """Print each showcase user's first ``n`` items as served, with where each came from."""
    items = to_pandas(tables.read(catalog.SILVER_ITEMS).select("item_id", "category", "brand", "size", "price"))
    attributes: pd.DataFrame = items.set_index("item_id")
    for label, user_id in showcase_users(tables):
        rec = reader.for_user(user_id, n=n)
        print(f"\nuser {user_id}: {label}; read from Redis {reader.target.safe_url}")
        for item, score, source in zip(rec.item_ids, rec.scores, rec.sources):
            a = attributes.loc[item] if item in attributes.index else None
            described = (
                f"{a.category:<12} {a.brand:<14} size {a['size']:<3} {a.price:7.2f} EUR" if a is not None else ""
            )
            print(f"  item {item:<8} {source:<22} score {score:7.3f}  {described}")
