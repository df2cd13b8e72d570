# Databricks notebook source
# MAGIC %md
# MAGIC # Train and compare models
# MAGIC ALS, item2vec and popularity baselines on the same time split, tracked in MLflow (runs named `notebook-compare`).

# COMMAND ----------

import mlflow

from recpipe import tracking
from recpipe.config import ALSConfig, EvaluationConfig
from recpipe.jobs.train import load_training_data
from recpipe.models.ease import MAX_ITEMS, EASERecommender
from recpipe.models.item2vec import Item2VecRecommender
from recpipe.models.training import build_als, evaluate_on_time_split
from recpipe.notebook import notebook_context, param

ctx = notebook_context()
data = load_training_data(ctx)
holdout_days = int(param("holdout_days", "7"))
print(f"{len(data.interactions):,} interactions, {data.n_users:,} users, {data.n_items:,} items")

# COMMAND ----------

candidates = {
    "als_64": build_als(ALSConfig(factors=64, use_gpu=False), seed=42),
    "als_128": build_als(ALSConfig(factors=128, use_gpu=False), seed=42),
    "item2vec": Item2VecRecommender(n_items=data.n_items, vector_size=32, epochs=5),
}
if data.n_items <= MAX_ITEMS:
    candidates["ease"] = EASERecommender(l2=200.0)
evaluation = evaluate_on_time_split(data, candidates, EvaluationConfig(holdout_days=holdout_days))

# COMMAND ----------

tracking.configure(ctx.settings)
with mlflow.start_run(run_name="notebook-compare"):
    for name, metrics in evaluation.metrics.items():
        mlflow.log_metrics(metrics.as_dict(prefix=f"{name}."))
        print(f"{name:<18} ndcg@10 {metrics.ndcg:.4f}  map {metrics.map:.4f}  recall {metrics.recall:.4f}  coverage {metrics.coverage:.3f}")
