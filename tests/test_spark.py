import pytest

from recpipe.config import Settings
from recpipe.spark import _LAUNCH_NOISE, SMALL_FRAME_SPARK_CONF, JavaNotFoundError, ensure_java, extra_spark_conf


def test_missing_java_says_what_to_install(monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(JavaNotFoundError, match="openjdk-17"):
        ensure_java()


def test_local_session_has_delta_and_small_shuffles(spark):
    assert spark.conf.get("spark.sql.extensions") == "io.delta.sql.DeltaSparkSessionExtension"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "1"
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.codegen.wholeStage") == "false"  # small frames, the default
    assert spark.conf.get("spark.sql.adaptive.enabled") == "false"


def test_small_frames_are_a_default_that_large_runs_and_explicit_settings_override(tmp_path):
    assert extra_spark_conf(Settings(data_dir=tmp_path)) == SMALL_FRAME_SPARK_CONF
    assert extra_spark_conf(Settings(data_dir=tmp_path, small_frames=False)) == {}
    mine = {"spark.sql.adaptive.enabled": "true", "spark.sql.shuffle.partitions": "16"}
    assert extra_spark_conf(Settings(data_dir=tmp_path, spark_conf=mine)) == {**SMALL_FRAME_SPARK_CONF, **mine}


def test_the_launch_filter_drops_the_dependency_report_and_keeps_errors():
    noise = [
        ":: resolving dependencies :: org.apache.spark#spark-submit-parent-f63;1.0",
        "\tfound io.delta#delta-spark_4.2_2.13;4.4.0 in central",
        "\tio.delta#delta-storage;4.4.0 from central in [default]",
        "\t|      default     |   37  |   0   |   0   |   4   ||   33  |   0   |",
        "\t---------------------------------------------------------------------",
        "io.delta#delta-spark_4.2_2.13 added as a dependency",
        "Ivy Default Cache set to: /root/.ivy2.5.2/cache",
        "WARNING: Using incubator modules: jdk.incubator.vector",
        "26/11/23 03:44:05 WARN NativeCodeLoader: Unable to load native-hadoop library for your platform",
    ]
    kept = [
        "26/11/23 03:50:01 ERROR Executor: Exception in task 0.0 in stage 3.0 (TID 7)",
        "java.lang.OutOfMemoryError: Java heap space",
        "\tat org.apache.spark.sql.execution.SparkPlan.execute(SparkPlan.scala:195)",
        "26/11/23 03:50:01 WARN TaskSetManager: Lost task 0.0 in stage 3.0",
    ]
    assert [line for line in noise + kept if not _LAUNCH_NOISE.match(line)] == kept
