import pandas as pd
import pytest
from chispa import assert_df_equality
from pydantic import ValidationError
from pyspark.sql import functions as F

from recpipe import catalog
from recpipe.catalog import SchemaMismatchError
from recpipe.config import Settings
from recpipe.tables import TableNameError, physical_name, to_pandas_together


def test_local_names_map_to_delta_paths(tmp_path):
    settings = Settings(data_dir=tmp_path)
    assert physical_name("bronze.events", settings) == str(tmp_path / "lakehouse" / "bronze" / "events")


def test_databricks_names_map_to_unity_catalog():
    settings = Settings(platform="databricks", catalog="recpipe_prod")
    assert physical_name("gold.user_candidates", settings) == "recpipe_prod.gold.user_candidates"
    prefixed = Settings(platform="databricks", catalog="main", schema_prefix="recpipe_")
    assert physical_name("silver.interactions", prefixed) == "main.recpipe_silver.interactions"


@pytest.mark.parametrize("bad", ["events", "bronze.", "platinum.events", "bronze.a.b"])
def test_malformed_names_are_rejected(bad):
    with pytest.raises(TableNameError, match=bad.split(".")[0] if "." in bad else bad):
        physical_name(bad, Settings())


def test_databricks_without_catalog_is_an_error():
    with pytest.raises(ValidationError, match="needs a catalog"):
        Settings(platform="databricks")


def test_overwrite_append_merge_and_versions(spark, tables):
    first = spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string")
    assert tables.overwrite(first, "silver.demo") == 0
    assert tables.append(spark.createDataFrame([(3, "c")], "id long, v string"), "silver.demo") == 1
    upsert = spark.createDataFrame([(2, "B"), (4, "d")], "id long, v string")
    assert tables.merge(upsert, "silver.demo", keys=["id"]) == 2
    expected = spark.createDataFrame([(1, "a"), (2, "B"), (3, "c"), (4, "d")], "id long, v string")
    assert_df_equality(tables.read("silver.demo"), expected, ignore_row_order=True)
    assert tables.versions_read["silver.demo"] == 2
    assert_df_equality(tables.read("silver.demo", version=0), first, ignore_row_order=True)


def test_replace_where_replaces_matching_rows_and_adds_new_columns(spark, tables):
    tables.replace_where(spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string"), "monitoring.demo", "id = 1")
    tables.replace_where(
        spark.createDataFrame([(1, "A", 10)], "id long, v string, extra int"), "monitoring.demo", "id = 1"
    )
    expected = spark.createDataFrame([(1, "A", 10), (2, "b", None)], "id long, v string, extra int")
    assert_df_equality(tables.read("monitoring.demo"), expected, ignore_row_order=True)


def test_merge_can_delete_missing_keys(spark, tables):
    tables.overwrite(spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string"), "silver.demo")
    tables.merge(
        spark.createDataFrame([(2, "b2")], "id long, v string"), "silver.demo", keys=["id"], delete_missing=True
    )
    assert_df_equality(tables.read("silver.demo"), spark.createDataFrame([(2, "b2")], "id long, v string"))


def test_reading_a_missing_table_says_which(tables):
    with pytest.raises(FileNotFoundError, match="gold.nothing"):
        tables.read("gold.nothing")


def test_an_overwrite_reports_its_rows_from_the_commit(spark, tables):
    tables.overwrite(spark.range(1234).repartition(3), "silver.demo")
    assert tables.rows_written("silver.demo") == 1234 == tables.read("silver.demo").count()


def test_a_write_may_not_add_or_retype_a_registered_column(spark, tables):
    fewer = spark.createDataFrame([(1, 0, "r")], catalog.columns(catalog.SILVER_USER_INDEX))
    tables.overwrite(fewer.drop("run_id"), catalog.SILVER_USER_INDEX)  # fixtures may write what a job reads
    retyped = fewer.withColumn("user_idx", fewer["user_idx"].cast("bigint"))
    with pytest.raises(
        SchemaMismatchError, match=r"silver\.user_index: .*column user_idx is bigint, registered as int"
    ):
        tables.overwrite(retyped, catalog.SILVER_USER_INDEX)
    with pytest.raises(SchemaMismatchError, match=r"column extra \(string\) is not registered"):
        tables.append(fewer.withColumn("extra", fewer["run_id"]), catalog.SILVER_USER_INDEX)
    assert catalog.schema_problems(catalog.SILVER_USER_INDEX, [("user_id", "bigint")], complete=True) == [
        "column user_idx (int) is missing",
        "column run_id (string) is missing",
    ]


@pytest.mark.filterwarnings("ignore:toPandas attempted Arrow optimization")  # the failing frame, expected
def test_frames_collected_together_equal_each_collected_alone_and_a_failure_is_raised(spark):
    frames = {
        "squares": spark.range(50).selectExpr("id", "id * id AS square"),
        "empty": spark.range(0).selectExpr("CAST(id AS STRING) AS name"),
        "sorted": spark.range(30).orderBy(F.desc("id")),
    }
    spark.sparkContext.setJobGroup("collected-together", "the caller's group")
    try:
        collected = to_pandas_together(frames, threads=3)
    finally:
        spark.sparkContext.setJobGroup("", "")
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup("collected-together")) >= len(frames)
    assert list(collected) == ["squares", "empty", "sorted"]
    for name, df in frames.items():
        pd.testing.assert_frame_equal(collected[name], df.toPandas())
    failing = spark.range(3).select(F.raise_error(F.lit("no such listing")).alias("x"))
    with pytest.raises(Exception, match="no such listing"):
        to_pandas_together({"good": frames["squares"], "bad": failing})
