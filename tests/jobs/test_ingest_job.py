"""`recpipe ingest movielens` into real Delta tables, and `recpipe evaluate` against its holdout."""

from datetime import datetime

import pandas as pd
import pytest

from recpipe import catalog
from recpipe.config import FutureEvaluationConfig, Settings
from recpipe.data.movielens import movielens
from recpipe.errors import ExistingDataError
from recpipe.jobs.context import JobContext
from recpipe.jobs.evaluate import evaluate, holdout_metrics
from recpipe.jobs.ingest import ingest

from ..data.test_movielens import write_100k

pytestmark = pytest.mark.slow  # runs jobs end to end on Spark

LISTS = "user_id long, item_ids array<long>, source string, run_id string, generated_at timestamp"


def test_holdout_metrics_known_answer():
    served = pd.DataFrame({"user_id": [1, 2, 3], "item_ids": [[10, 11], [12], [10]]})
    truth = pd.DataFrame({"user_id": [1, 1, 2, 4], "item_id": [11, 13, 14, 10]})  # user 3: nothing held out; 4: no list
    m = holdout_metrics(served, truth, k=2)
    assert m.n_users == 2  # users with a list and held-out items, as in Microsoft Recommenders
    assert m.precision == pytest.approx((1 / 2 + 0) / 2) and m.recall == pytest.approx((1 / 2 + 0) / 2)
    assert m.hit_rate == pytest.approx(0.5)


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    folder = write_100k(tmp_path_factory.mktemp("ml"), [(u, i, 4, 1000 * u + i) for u in (1, 2) for i in (1, 2, 3, 4)])
    settings = Settings(data_dir=tmp_path_factory.mktemp("ingest"), shuffle_partitions=2)
    ctx = JobContext.for_settings("ingest", settings, spark)
    data = movielens(folder, holdout_share=0.25, seed=42)
    return ctx, data, ingest(ctx, data)


def test_ingest_writes_bronze_and_keeps_the_holdout_out_of_it(ingested):
    ctx, data, summary = ingested
    t = ctx.tables
    assert summary["rows"] == {
        catalog.BRONZE_USERS: 2,
        catalog.BRONZE_ITEMS: 4,
        catalog.BRONZE_EVENTS: 6,
        catalog.SIM_HOLDOUT: 2,
    }
    held = {(r.user_id, r.item_id) for r in t.read(catalog.SIM_HOLDOUT).collect()}
    assert held == set(zip(data.holdout.user_id, data.holdout.item_id))
    assert not held & {(r.user_id, r.item_id) for r in t.read(catalog.BRONZE_EVENTS).collect()}


def test_ingest_never_overwrites_existing_bronze_without_replace_nor_others_data(ingested):
    ctx, data, _ = ingested
    t = ctx.tables
    with pytest.raises(
        ExistingDataError,
        match="bronze.users, bronze.items, bronze.events already exist: `recpipe ingest` keeps them \\(pass --replace",
    ):
        ingest(ctx, data)
    assert t.last_writer(catalog.BRONZE_EVENTS) == "recpipe ingest"
    t.overwrite(t.read(catalog.BRONZE_EVENTS), catalog.BRONZE_EVENTS)  # the same rows, written by someone else
    version = t.version(catalog.BRONZE_EVENTS)
    with pytest.raises(ExistingDataError, match="bronze.events were not written by recpipe generate or ingest"):
        ingest(ctx, data, replace=True)
    assert t.version(catalog.BRONZE_EVENTS) == version


def test_evaluate_scores_the_served_lists_against_the_holdout(ingested, spark):
    ctx, data, _ = ingested
    t = ctx.tables
    lists = [
        (
            int(u),
            [int(data.holdout.set_index("user_id").loc[u, "item_id"]), 99],
            "personal",
            "run-m",
            datetime(2026, 10, 11),
        )
        for u in (1, 2)
    ]
    lists[1] = (2, [99], "als", "run-m", datetime(2026, 10, 11))  # user 2's held-out item is not served
    t.overwrite(spark.createDataFrame(lists, LISTS), catalog.GOLD_USER_CANDIDATES)
    result = evaluate(ctx, FutureEvaluationConfig(holdout_k=2))
    assert result["protocol"] == "holdout" and result["run_id"] == "run-m"
    assert result["figures"]["pipeline/holdout/recall_at_2"] == 0.5
    assert result["figures"]["pipeline/holdout/precision_at_2"] == 0.25
    stored = {r.metric: r.value for r in t.read(catalog.MONITORING_HOLDOUT_EVALUATION).collect()}
    assert stored["recall"] == 0.5 and stored["n_users"] == 2
