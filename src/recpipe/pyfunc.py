"""The pyfunc wrapper of a registered model: what ``mlflow.pyfunc.load_model`` serves anywhere."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from mlflow.models import ModelSignature
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import Array, ColSpec, Schema


class _KnownNotice(logging.Filter):
    """Drops MLflow's notice that a Python-object model is pickled: the pyfunc is our own, reviewed class."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Passing a Python object as `python_model`")


logging.getLogger("mlflow.pyfunc").addFilter(_KnownNotice())


class RecommenderPyfunc(PythonModel):
    """Input: a DataFrame with ``user_id``. Output: ``user_id``, ``item_ids`` and ``scores`` (top-N, best first).

    Ranks through ``models.ranking.ListRanker`` with the candidates job's rules, as of the training data's as-of:
    items for sale then, the user's seen items and own listings excluded, at most ``max_per_seller`` per seller.
    Artifacts: the model directory, the index -> id arrays of users and items, the exclusions (users x items),
    each item's seller and whether it was for sale. Unknown users get empty lists (the serving layer falls back).
    """

    def __init__(self, top_n: int = 100, max_per_seller: int | None = None):
        self.top_n = top_n
        self.max_per_seller = max_per_seller

    def load_context(self, context) -> None:
        from recpipe.models.ranking import ListRanker, RankingRules
        from recpipe.models.registry import load_model

        artifacts = context.artifacts
        self.model = load_model(Path(artifacts["model"]))
        self.user_ids = np.load(artifacts["user_ids"])
        self.item_ids = np.load(artifacts["item_ids"])
        if "excluded" in artifacts:
            self.excluded = sp.load_npz(artifacts["excluded"]).tocsr()
            sellers, for_sale = np.load(artifacts["sellers"]), np.load(artifacts["for_sale"])
        else:  # versions registered before the served rules travelled with the model
            self.excluded = sp.load_npz(artifacts["seen"]).tocsr()
            sellers, for_sale = np.full(len(self.item_ids), -1), None
        _, items = self.model.embed(np.zeros(0, dtype=np.int64), self.excluded)
        self.ranker = ListRanker(items, sellers, RankingRules(self.top_n, self.max_per_seller), for_sale)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        users = np.asarray(model_input["user_id"], dtype=np.int64)
        position = np.clip(np.searchsorted(self.user_ids, users), 0, len(self.user_ids) - 1)
        known = self.user_ids[position] == users
        item_lists: list[list[int]] = [[] for _ in users]
        score_lists: list[list[float]] = [[] for _ in users]
        if known.any():
            vectors, _ = self.model.embed(position[known], self.excluded)
            ids, scores = self.ranker.rank(vectors, self.excluded[position[known]])
            for row, (i, s) in zip(np.flatnonzero(known), zip(ids, scores)):
                ok = i >= 0
                item_lists[row] = self.item_ids[i[ok]].tolist()
                score_lists[row] = s[ok].astype(float).tolist()
        return pd.DataFrame({"user_id": users, "item_ids": item_lists, "scores": score_lists})


def pyfunc_signature() -> ModelSignature:
    """What ``RecommenderPyfunc`` takes and returns, declared (an inferred one warns about integer columns)."""
    return ModelSignature(
        inputs=Schema([ColSpec("long", "user_id")]),
        outputs=Schema(
            [ColSpec("long", "user_id"), ColSpec(Array("long"), "item_ids"), ColSpec(Array("double"), "scores")]
        ),
    )
