# Databricks notebook source
# MAGIC %md
# MAGIC # One user's history next to their recommendations
# MAGIC Set the `user_id` widget (or `RECPIPE_NB_USER_ID`); by default the most active user.

# COMMAND ----------

from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.notebook import notebook_context, param

ctx = notebook_context()
interactions = ctx.tables.read(catalog.SILVER_INTERACTIONS)
items = ctx.tables.read(catalog.SILVER_ITEMS).select("item_id", "category", "brand", "size", "price", "seller_id")
candidates = ctx.tables.read(catalog.GOLD_USER_CANDIDATES)
default_user = interactions.groupBy("user_id").count().orderBy(F.desc("count"), "user_id").first().user_id
user_id = int(param("user_id", str(default_user)))

# COMMAND ----------

history = interactions.where(F.col("user_id") == user_id).join(items, "item_id").orderBy(F.desc("confidence"))
print(f"user {user_id}: {history.count()} items in their history")
history.select("item_id", "category", "brand", "size", "price", "confidence", "event_types").show(20, truncate=False)

# COMMAND ----------

row = candidates.where(F.col("user_id") == user_id).first()
print(f"source {row.source}, model version {row.model_version}, {len(row.item_ids)} candidates")
ranked = ctx.spark.createDataFrame(
    list(zip(range(1, len(row.item_ids) + 1), row.item_ids, row.scores)), "rank int, item_id long, score float"
)
ranked.join(items, "item_id").orderBy("rank").show(20, truncate=False)
