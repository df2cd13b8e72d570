"""MLflow against a real local tracking store: the champion/challenger gate and the pyfunc model."""

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from recpipe import pyfunc, tracking
from recpipe.cli import execute
from recpipe.config import Settings
from recpipe.errors import PromotionRefusedError
from recpipe.models.registry import save_model

from .models.test_contract import MODELS, WITHHELD, checkerboard


@pytest.fixture
def mlflow_store(tmp_path):
    settings = Settings(data_dir=tmp_path, mlflow_experiment="tests")
    tracking.configure(settings)
    yield settings
    mlflow.set_tracking_uri(None)


class Constant(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


def register(name: str, ndcg: float) -> str:
    with mlflow.start_run():
        mlflow.log_metric("ndcg", ndcg)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Constant(), registered_model_name=name, pip_requirements=[]
        )
    return str(info.registered_model_version)


@pytest.mark.parametrize(
    ("value", "champion", "tolerance", "expected"),
    [(0.30, None, 0.0, True), (0.30, 0.30, 0.0, True), (0.296, 0.30, 0.005, True), (0.29, 0.30, 0.005, False)],
)
def test_passes_promotion(value, champion, tolerance, expected):
    assert tracking.passes_promotion(value, champion, tolerance) is expected


def test_gate_keeps_the_champion_when_the_challenger_is_worse(mlflow_store):
    client, name = MlflowClient(), "gate_model"
    first = tracking.promote(client, name, register(name, 0.30), "ndcg", 0.30, 0.005)
    assert first.promoted and "first" in first.message
    worse = register(name, 0.20)
    decision = tracking.promote(client, name, worse, "ndcg", 0.20, 0.005)
    assert not decision.promoted and decision.champion_version == first.version
    assert "kept champion version 1" in decision.message
    assert str(client.get_model_version_by_alias(name, "champion").version) == first.version
    assert str(client.get_model_version_by_alias(name, "challenger").version) == worse
    better = register(name, 0.298)
    assert tracking.promote(client, name, better, "ndcg", 0.298, 0.005).promoted
    assert tracking.champion_version(mlflow_store, name) == better


def test_champion_lookup_without_a_champion_is_a_clear_error(mlflow_store):
    with pytest.raises(LookupError, match="no champion alias"):
        tracking.champion_version(mlflow_store, "never_trained")


def test_pyfunc_model_maps_user_ids_to_item_ids(mlflow_store, tmp_path):
    matrix = checkerboard()
    model = MODELS["als"]().fit(matrix)
    user_ids = np.arange(matrix.shape[0]) * 10 + 1000  # ids differ from indices
    item_ids = np.arange(matrix.shape[1]) * 7 + 50
    np.save(tmp_path / "u.npy", user_ids)
    np.save(tmp_path / "i.npy", item_ids)
    import scipy.sparse as sp

    sp.save_npz(tmp_path / "seen.npz", matrix)
    artifacts = {
        "model": str(save_model(model, tmp_path / "als")),
        "user_ids": str(tmp_path / "u.npy"),
        "item_ids": str(tmp_path / "i.npy"),
        "seen": str(tmp_path / "seen.npz"),
    }
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=pyfunc.RecommenderPyfunc(top_n=3), artifacts=artifacts, pip_requirements=[]
        )
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    out = loaded.predict(pd.DataFrame({"user_id": [1000, 1010, 999]}))
    assert out["item_ids"][0][0] == item_ids[WITHHELD[0]] and out["item_ids"][1][0] == item_ids[WITHHELD[1]]
    assert len(out["item_ids"][0]) == 3 and out["scores"][0] == sorted(out["scores"][0], reverse=True)
    assert out["item_ids"][2] == [] and out["scores"][2] == []  # unknown user


def test_library_versions_are_recorded():
    versions = tracking.library_versions()
    assert versions["version.implicit"] == "0.7.3" and versions["version.pyspark"].startswith("4.2")


def test_versions_pickled_under_the_old_module_path_still_find_the_pyfunc():
    assert tracking.RecommenderPyfunc is pyfunc.RecommenderPyfunc


def register_judged(client: MlflowClient, name: str, value: float) -> str:
    """A version registered and judged by the gate as train does: the decision kept on its training run."""
    with mlflow.start_run() as run:
        mlflow.log_metric("ndcg", value)
        info = mlflow.pyfunc.log_model(
            name="model", python_model=Constant(), registered_model_name=name, pip_requirements=[]
        )
        version = str(info.registered_model_version)
        mlflow.set_tags(tracking.promotion_tags(tracking.promote(client, name, version, "ndcg", value, 0.005)))
    assert run.info.run_id
    return version


def test_promote_moves_the_champion_to_a_gated_version_and_refuses_one_that_lost(mlflow_store, monkeypatch):
    monkeypatch.setenv("RECPIPE_DATA_DIR", str(mlflow_store.data_dir))  # the command line's store is this one
    client, name = MlflowClient(), "release_model"
    first = register_judged(client, name, 0.30)
    lost = register_judged(client, name, 0.10)  # the challenger now, not the champion
    with pytest.raises(PromotionRefusedError, match=f"version {lost} did not pass.*kept champion version {first}"):
        tracking.move_champion(mlflow_store, name, version=None, alias="challenger")
    assert str(client.get_model_version_by_alias(name, "champion").version) == first

    # a deliberate rollback to the version that lost, then the release promotes the gated one back
    rolled = tracking.move_champion(mlflow_store, name, version=lost, alias="challenger", force=True, by="oncall")
    assert rolled["champion"] == lost and rolled["previous_champion"] == first
    assert client.get_model_version(name, lost).tags["promotion_gate"].endswith("(forced)")
    assert execute(["promote", "--version", first, "--set", f"model.name={name}", "--by", "release v1.2"]) == 0
    assert str(client.get_model_version_by_alias(name, "champion").version) == first
    assert client.get_model_version(name, first).tags["promoted_by"] == "release v1.2"
    assert execute(["promote", "--version", "99", "--set", f"model.name={name}"]) == 2  # no such version
