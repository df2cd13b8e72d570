"""Training end to end on small silver tables with planted structure: MLflow run, registry, gate, gold factors."""

from datetime import date, datetime, timedelta
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from recpipe import catalog
from recpipe.config import ModelReference, RankingConfig, RunConfig, Settings, TrainConfig, TuneConfig
from recpipe.jobs.candidates import generate_candidates
from recpipe.jobs.context import JobContext
from recpipe.jobs.train import train
from recpipe.jobs.tune import tune
from recpipe.models.als import ALSRecommender
from recpipe.models.ranking import RankingRules
from recpipe.models.training import served_ranking
from recpipe.monitoring import tuning
from recpipe.tables import Tables
from recpipe.training_data import load_training_data

pytestmark = pytest.mark.slow  # runs jobs end to end on Spark

N_USERS, N_ITEMS, DAYS = 40, 24, 10
END = datetime(2026, 10, 10)
COLD_LISTINGS = (600, 601, 602, 603)  # for sale, never touched: brand A (even) or B (odd) like the group's items


def write_silver(tables: Tables) -> None:
    """Two taste groups (item % 2 == user % 2, brand A or B); each user touches 8 items of their group over ten
    days, some bought; four listings of either brand are for sale without any history."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(N_USERS):
        group_items = [i for i in range(N_ITEMS) if i % 2 == user % 2]
        for item in rng.choice(group_items, size=8, replace=False):
            ts = END - timedelta(hours=int(rng.integers(1, DAYS * 24)))
            rows.append(
                (
                    user + 100,
                    int(item) + 500,
                    float(rng.integers(1, 5)),
                    1,
                    ts,
                    ["view", "like", "purchase"][int(rng.integers(0, 3))],
                )
            )
    interactions = pd.DataFrame(
        rows, columns=["user_id", "item_id", "confidence", "n_events", "last_event_ts", "event_type"]
    )
    interactions["event_types"] = interactions.pop("event_type").map(lambda t: [t])
    spark = tables.spark
    tables.overwrite(spark.createDataFrame(interactions), catalog.SILVER_INTERACTIONS)
    daily = interactions.assign(day=interactions["last_event_ts"].dt.date, weighted=interactions["confidence"])
    tables.overwrite(
        spark.createDataFrame(
            daily[["user_id", "item_id", "day", "weighted", "n_events", "last_event_ts", "event_types"]]
        ),
        catalog.SILVER_DAILY_INTERACTIONS,
    )
    users = sorted(interactions["user_id"].unique())
    items = sorted(interactions["item_id"].unique())
    tables.overwrite(
        spark.createDataFrame(
            pd.DataFrame({"user_id": users, "user_idx": range(len(users)), "run_id": "r"}),
            catalog.columns(catalog.SILVER_USER_INDEX),
        ),
        catalog.SILVER_USER_INDEX,
    )
    tables.overwrite(
        spark.createDataFrame(
            pd.DataFrame({"item_id": items, "item_idx": range(len(items)), "run_id": "r"}),
            catalog.columns(catalog.SILVER_ITEM_INDEX),
        ),
        catalog.SILVER_ITEM_INDEX,
    )
    listings = [*items, *COLD_LISTINGS]
    availability = pd.DataFrame(
        {
            "item_id": listings,
            "seller_id": [900 + i % 3 for i in listings],
            "status": "active",
            "listed_at": datetime(2026, 9, 1),
            "sold_at": pd.NaT,
        }
    )
    tables.overwrite(
        spark.createDataFrame(
            availability, "item_id long, seller_id long, status string, listed_at timestamp, sold_at timestamp"
        ),
        catalog.SILVER_ITEM_AVAILABILITY,
    )
    tables.overwrite(
        spark.createDataFrame(
            [(int(u), "FR", datetime(2025, 1, 1)) for u in users], "user_id long, country string, signup_ts timestamp"
        ),
        catalog.SILVER_USERS,
    )
    tables.overwrite(
        spark.createDataFrame(
            [
                (
                    int(i),
                    900 + int(i) % 3,
                    "tops",
                    "AB"[int(i) % 2],
                    "M",
                    20.0,
                    "good",
                    datetime(2026, 9, 1),
                    None,
                    None,
                    "active",
                )
                for i in listings
            ],
            "item_id long, seller_id long, category string, brand string, size string, price double, condition string, "
            "listed_at timestamp, sold_at timestamp, deleted_at timestamp, status string",
        ),
        catalog.SILVER_ITEMS,
    )


def use_model(ctx: JobContext, name: str, version: str | None = None) -> None:
    """The run's model section: the registered name (one registry per test) and the version lists come from."""
    ctx.config = ctx.config.model_copy(update={"model": ModelReference(name=name, version=version)})


@pytest.fixture
def ctx(spark, tmp_path):
    settings = Settings(data_dir=tmp_path, shuffle_partitions=2, mlflow_experiment="train-tests")
    # the training and promotion mechanics and the one-stage path; the ranker's are tests/test_ranking_stage.py's
    one_stage = RunConfig(ranking=RankingConfig(enabled=False))
    context = JobContext.for_settings("train", settings, spark, config=one_stage)
    write_silver(context.tables)
    yield context
    mlflow.set_tracking_uri(None)


# ALS alone, gated on nDCG: the gate's mechanics (the families' contest has its own test)
CONFIG = TrainConfig.model_validate(
    {
        "als": {"factors": 4, "regularization": 0.1, "alpha": 2, "iterations": 10, "use_gpu": False},
        "item2vec": {"vector_size": 8, "epochs": 5},
        "families": ["als"],
        "promotion": {"metric": "ndcg"},
        "evaluation": {"holdout_days": 3, "target_k": 5},
    }
)


def test_train_tracks_registers_and_writes_factors(ctx):
    summary = train(ctx, CONFIG)
    assert summary["promoted"] and summary["model_version"] == "1"
    metrics = summary["metrics"]
    assert metrics["als"]["ndcg"] > metrics["popularity"]["ndcg"]  # the planted groups are learnable
    run = MlflowClient().get_run(summary["mlflow_run_id"])
    assert run.data.params["seed"] == "42" and run.data.params["als.factors"] == "4"
    assert run.data.tags["version.implicit"] == "0.7.3" and run.data.tags["delta_version.silver.interactions"] == "0"
    assert {"ndcg", "als.map", "popularity.ndcg", "recent_popularity.precision"} <= set(run.data.metrics)
    artifacts = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert {"metrics.png", "item2vec"} <= artifacts
    user_factors = ctx.tables.read(catalog.GOLD_USER_FACTORS)
    assert user_factors.count() == N_USERS and {r.model_version for r in user_factors.collect()} == {"1"}
    assert len(user_factors.first().factors) == 4
    assert ctx.tables.read(catalog.GOLD_ITEM_EMBEDDINGS).count() == N_ITEMS

    model = mlflow.pyfunc.load_model("models:/recpipe_recommender@champion")
    out = model.predict(pd.DataFrame({"user_id": [100]}))
    assert len(out["item_ids"][0]) == 3 * 3  # the served rules: three sellers, at most max_per_seller (3) each
    assert all((item - 500) % 2 == 0 for item in out["item_ids"][0][:3])  # user 100 is in group 0


def test_a_worse_model_is_registered_but_not_promoted(ctx):
    train(ctx, CONFIG)
    worse = CONFIG.model_copy(
        update={"als": CONFIG.als.model_copy(update={"factors": 1, "iterations": 1, "regularization": 100.0})}
    )
    summary = train(ctx, worse)
    assert summary["model_version"] == "2" and not summary["promoted"]
    assert "kept champion version 1" in summary["promotion"]
    assert str(MlflowClient().get_model_version_by_alias("recpipe_recommender", "champion").version) == "1"
    # both versions' factors are kept, so later jobs can read the champion's
    versions = {
        r.model_version for r in ctx.tables.read(catalog.GOLD_ITEM_FACTORS).select("model_version").distinct().collect()
    }
    assert versions == {"1", "2"}


def test_tune_records_best_parameters_that_training_uses_and_searches_again_only_when_due(ctx):
    config = TuneConfig(
        trials=2, factors=(2, 4), regularization=(0.1,), alpha=(2.0,), iterations=(5,), weighting=("none",)
    )
    summary = tune(ctx, config, CONFIG)
    recorded = tuning.latest(ctx.tables, date(2026, 10, 10))
    assert recorded.params == summary["best"] and recorded.params["factors"] in (2, 4)
    assert recorded.as_of == date(2026, 10, 9) and recorded.mlflow_run_id == summary["mlflow_run_id"]
    children = MlflowClient().search_runs(
        [mlflow.get_experiment_by_name("train-tests").experiment_id],
        f"tags.mlflow.parentRunId = '{summary['mlflow_run_id']}'",
    )
    assert len(children) == 2
    trained = train(ctx, CONFIG)
    params = MlflowClient().get_run(trained["mlflow_run_id"]).data.params
    assert (
        params["als.factors"] == str(recorded.params["factors"])
        and params["tuned.mlflow_run_id"] == summary["mlflow_run_id"]
    )
    # a week has not passed: the task-graph run skips the search; --force searches
    assert "skipped" in tune(ctx, config, CONFIG) and tuning.latest(ctx.tables, date(2026, 10, 10)) == recorded
    # on half the users (tune.user_share): the search runs on fewer users' rows
    searched = tune(ctx, config.model_copy(update={"user_share": 0.5}), CONFIG, force=True)
    assert "skipped" not in searched
    assert 0 < searched["rows"]["users searched on"] < summary["rows"]["users searched on"] == N_USERS


def test_champion_and_challenger_are_scored_on_one_split(ctx):
    """The champion's configuration is retrained on the challenger's split: the gate compares two scores of one
    run, not a score stored on another day's split."""
    use_model(ctx, "fair_gate")
    base = CONFIG.model_copy(update={"use_tuned_params": False})
    first = train(ctx, base)
    assert first["promoted"] and "champion" not in first["metrics"]
    other = base.model_copy(update={"als": base.als.model_copy(update={"factors": 2, "iterations": 3})})
    summary = train(ctx, other)
    champion_ndcg = summary["metrics"]["champion"]["ndcg"]
    assert champion_ndcg == pytest.approx(first["metrics"]["als"]["ndcg"])  # same data, split, parameters and seed
    assert f"champion {champion_ndcg:.4f}" in summary["promotion"]
    assert MlflowClient().get_run(summary["mlflow_run_id"]).data.metrics["champion.ndcg"] == pytest.approx(
        champion_ndcg
    )
    # the champion's own configuration again: nothing to refit, the scores tie and the fresher model is promoted
    again = train(ctx, other if summary["promoted"] else base)
    assert "champion" not in again["metrics"] and again["promoted"]


def test_served_lists_offline_ranking_and_registered_model_agree(ctx):
    """One ranking path: gold.user_candidates, the ranking offline evaluation uses, and the registered pyfunc give
    the same items in the same order for the same users and model version."""
    use_model(ctx, "agree")
    config = CONFIG.model_copy(update={"use_tuned_params": False})
    version = train(ctx, config)["model_version"]
    rules = ctx.config.candidates
    use_model(ctx, "agree", version)
    generate_candidates(ctx, rules)
    served = {
        r.user_id: r.item_ids
        for r in ctx.tables.read(catalog.GOLD_USER_CANDIDATES).where("source = 'personal'").collect()
    }
    users = sorted(served)
    assert len(users) == N_USERS

    registered = mlflow.pyfunc.load_model(f"models:/agree/{version}").predict(pd.DataFrame({"user_id": users}))
    data = load_training_data(ctx)
    factors = lambda table, key: np.stack(
        ctx.tables.read(table).where(f"model_version = '{version}'").orderBy(key).toPandas()["factors"].to_numpy()
    )
    model = ALSRecommender()
    model.user_factors, model.item_factors = (
        factors(catalog.GOLD_USER_FACTORS, "user_id"),
        factors(catalog.GOLD_ITEM_FACTORS, "item_id"),
    )
    for_sale = np.ones(data.n_items, dtype=bool)
    offline, _ = served_ranking(
        model,
        np.searchsorted(data.user_ids, users),
        data.matrix(),
        data.exclusions(),
        for_sale,
        data.sellers,
        RankingRules(rules.list_length, rules.max_per_seller),
    )
    for row, user in enumerate(users):
        listed = served[user]
        assert len(listed) == 9  # three sellers, at most three each
        assert registered["item_ids"][row] == listed[: rules.top_n]
        assert data.item_ids[offline[row][offline[row] >= 0]].tolist() == listed


def test_families_compete_on_target_recall_and_cold_listings_are_served(ctx):
    """Every family is scored on the split; the best by target recall is registered; its listing vectors reach
    listings without history, which the candidates job then ranks by the user's brand."""
    config = CONFIG.model_copy(
        update={
            "families": ("als", "als_attributes", "two_tower"),
            "promotion": CONFIG.promotion.model_copy(update={"metric": "target_recall"}),
            "two_tower": CONFIG.two_tower.model_copy(update={"factors": 8, "epochs": 20, "batch_size": 64}),
        }
    )
    use_model(ctx, "families")
    summary = train(ctx, config)
    metrics = summary["metrics"]
    assert {"als", "als_attributes", "two_tower", "popularity"} <= set(metrics)
    assert summary["family"] == max(
        config.families, key=lambda f: (metrics[f]["target_recall"], -config.families.index(f))
    )
    assert all(0 <= metrics[f]["target_recall"] <= 1 and metrics[f]["targets_all"] > 0 for f in config.families)
    assert MlflowClient().get_run(summary["mlflow_run_id"]).data.params["family"] == summary["family"]

    use_model(ctx, "attributes")
    only_attributes = config.model_copy(update={"families": ("als_attributes",)})
    trained = train(ctx, only_attributes)
    version = trained["model_version"]
    logged = {Path(a.path).name for a in MlflowClient().list_artifacts(trained["mlflow_run_id"], "model/artifacts")}
    assert "listing_features.json" in logged  # the encoder a listing created after training needs
    vectors = (
        ctx.tables.read(catalog.GOLD_ITEM_FACTORS).where(f"model_version = '{version}'").toPandas().set_index("item_id")
    )
    assert set(COLD_LISTINGS) <= set(vectors.index)  # listings without history get vectors from their attributes
    use_model(ctx, "attributes", version)
    generate_candidates(ctx, ctx.config.candidates)
    lists = ctx.tables.read(catalog.GOLD_USER_CANDIDATES).toPandas().set_index("user_id")
    for user in (100, 101):  # group 0 buys brand A (even ids), group 1 brand B
        listed = [i for i in lists.loc[user, "item_ids"] if i in COLD_LISTINGS]
        assert listed and all(i % 2 == user % 2 for i in listed[:2]), (user, listed)
