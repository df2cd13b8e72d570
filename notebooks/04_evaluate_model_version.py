# Databricks notebook source
# MAGIC %md
# MAGIC # Evaluate a registered model version
# MAGIC Loads a version's factors from `gold.user_factors` / `gold.item_factors` (default: the champion) and scores
# MAGIC it on the time split against popularity.

# COMMAND ----------

import numpy as np
from pyspark.sql import functions as F

from recpipe import catalog, tracking
from recpipe.config import EvaluationConfig
from recpipe.models.als import ALSRecommender
from recpipe.models.base import recommend_all
from recpipe.models.evaluation import available_items_mask, ranking_metrics, time_split
from recpipe.models.popularity import PopularityRecommender
from recpipe.notebook import notebook_context, param
from recpipe.training_data import load_training_data

ctx = notebook_context()
version = param("model_version", "") or tracking.champion_version(ctx.settings, ctx.config.model.name)
data = load_training_data(ctx)
print(f"evaluating model version {version}")

# COMMAND ----------


def factors(table: str, key: str, ids: np.ndarray) -> np.ndarray:
    """The version's vectors in index order; ids the version never saw get zeros."""
    pdf = ctx.tables.read(table).where(F.col("model_version") == version).select(key, "factors").toPandas()
    lookup = dict(zip(pdf[key], pdf["factors"]))
    width = len(pdf["factors"].iloc[0])
    return np.stack([np.asarray(lookup.get(i, np.zeros(width)), dtype=np.float32) for i in ids])


model = ALSRecommender()  # scored with the stored factors as trained, never refitted here
model.user_factors = factors(catalog.GOLD_USER_FACTORS, "user_id", data.user_ids)
model.item_factors = factors(catalog.GOLD_ITEM_FACTORS, "item_id", data.item_ids)
train_rows, test_rows, split = time_split(data.interactions, EvaluationConfig().holdout_days)
train, test = data.matrix(train_rows), data.matrix(test_rows)
users = np.intersect1d(test_rows["user_idx"].unique(), train_rows["user_idx"].unique())
allowed = available_items_mask(data.availability, data.n_items, split)
for name, m in ((f"version {version}", model), ("popularity", PopularityRecommender().fit(train))):
    ids, _ = recommend_all(m, users, train, 10, allowed_items=allowed)
    metrics = ranking_metrics(users, ids, test, 10, train)
    print(f"{name:<20} ndcg@10 {metrics.ndcg:.4f}  map {metrics.map:.4f}  precision {metrics.precision:.4f}")
# The stored version saw the test days while training, so its figures are optimistic: compare versions, not levels.
