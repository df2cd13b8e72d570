# Databricks notebook source
# MAGIC %md
# MAGIC # Explore interactions and popularity
# MAGIC Silver interactions as the models see them: volume, confidence, and how concentrated popularity is.

# COMMAND ----------

from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.notebook import notebook_context
from recpipe.plots import lorenz_curve

ctx = notebook_context()
interactions = ctx.tables.read(catalog.SILVER_INTERACTIONS)
items = ctx.tables.read(catalog.SILVER_ITEMS)

# COMMAND ----------

summary = interactions.agg(
    F.count(F.lit(1)).alias("pairs"),
    F.countDistinct("user_id").alias("users"),
    F.countDistinct("item_id").alias("items"),
    F.avg("confidence").alias("mean_confidence"),
).first()
print(summary.asDict())
print(f"density: {summary.pairs / (summary.users * summary.items):.5f}")

# COMMAND ----------

popularity = interactions.groupBy("item_id").agg(F.countDistinct("user_id").alias("users")).join(items, "item_id")
by_category = popularity.groupBy("category").agg(F.sum("users").alias("users")).orderBy(F.desc("users"))
by_category.show()
counts = [r.users for r in popularity.select("users").collect()]
path = lorenz_curve(counts, ctx.settings.data_dir / "notebooks" / "popularity_lorenz.png")
top_share = sum(sorted(counts, reverse=True)[: max(1, len(counts) // 10)]) / max(sum(counts), 1)
print(f"top 10% of items hold {top_share:.0%} of interactions; chart: {path}")

# COMMAND ----------

event_mix = interactions.select(F.explode("event_types").alias("event_type")).groupBy("event_type").count()
event_mix.orderBy(F.desc("count")).show()
