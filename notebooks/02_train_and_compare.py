# Databricks notebook source
# MAGIC %md
# MAGIC # Train and compare models
# MAGIC The model families of `recpipe train` (ALS, ALS with attributes, two towers, two towers + ALS), item2vec and popularity baselines on the
# MAGIC same time split, tracked in MLflow (runs named `notebook-compare`).

# COMMAND ----------

import mlflow

from recpipe import tracking
from recpipe.config import MODEL_FAMILIES
from recpipe.models.ease import MAX_ITEMS, EASERecommender
from recpipe.models.item2vec import Item2VecRecommender
from recpipe.models.training import evaluate_on_time_split, model_factory
from recpipe.notebook import notebook_context, param
from recpipe.training_data import load_training_data

ctx = notebook_context()
config = ctx.config.train  # the run configuration: defaults, conf folder, profile and variables
holdout_days = int(param("holdout_days", str(config.evaluation.holdout_days)))
evaluation_config = config.evaluation.model_copy(update={"holdout_days": holdout_days})
# the time split from daily rows; listings for sale during the holdout without history join the index
data = load_training_data(ctx, holdout_days=holdout_days)
print(f"{len(data.interactions):,} interactions, {data.n_users:,} users, {data.n_items:,} listings")

# COMMAND ----------

candidates = {
    family: model_factory(family, config, config.als.model_copy(update={"use_gpu": False}), data)
    for family in MODEL_FAMILIES
}
candidates["item2vec"] = lambda at: Item2VecRecommender(n_items=data.n_items, vector_size=32, epochs=5)
if data.n_items <= MAX_ITEMS:
    candidates["ease"] = lambda at: EASERecommender(l2=200.0)
evaluation = evaluate_on_time_split(data, candidates, evaluation_config)

# COMMAND ----------

tracking.configure(ctx.settings)
with mlflow.start_run(run_name="notebook-compare"):
    for name, metrics in evaluation.metrics.items():
        target = evaluation.targets[name]
        mlflow.log_metrics({**metrics.as_dict(prefix=f"{name}."), **target.as_dict(prefix=f"{name}.")})
        print(
            f"{name:<18} purchase recall@{target.k} {target.recall:.4f} (cold {target.cold:.4f})  ndcg@10 {metrics.ndcg:.4f}"
            f"  coverage {metrics.coverage:.3f}"
        )
