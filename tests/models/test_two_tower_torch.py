"""The two towers' PyTorch loop takes the numpy loop's steps: from the same seed both give the same vectors, and the
model that comes out ranks as the numpy one does. PyTorch is optional for users (not in the project's environment):
scripts/test.sh installs it into ./.torch (scripts/setup.sh: start_torch_install), where this module imports it
from, and runs this module with it; on PyTorch's CPU device when no GPU is there."""

import sys

import numpy as np

from recpipe.models import two_tower
from recpipe.models.two_tower import TwoTowerRecommender

from ..conftest import REPO_ROOT
from .test_hybrid import brand_world

# after the project's environment: only what it lacks (PyTorch and its own dependencies) comes from the folder
sys.path.append(str(REPO_ROOT / ".torch"))
import torch  # a missing PyTorch fails this module: `bash scripts/test.sh` installs it)


def fitted(device: str | None, monkeypatch) -> TwoTowerRecommender:
    matrix, features, listed_at = brand_world()
    monkeypatch.setattr(two_tower, "training_device", lambda use_gpu: device)
    model = TwoTowerRecommender(
        features, factors=8, epochs=5, batch_size=16, seed=3, num_threads=1, listed_at=listed_at
    )
    return model.fit(matrix)


def test_the_torch_loop_gives_the_numpy_loops_vectors(monkeypatch):
    numpy_model = fitted(None, monkeypatch)
    torch_model = fitted("cuda" if torch.cuda.is_available() else "cpu", monkeypatch)
    moved = np.abs(numpy_model.item_vectors).max()
    assert moved > 0.1  # the loop trained: the vectors are not their start
    np.testing.assert_allclose(torch_model.item_vectors, numpy_model.item_vectors, atol=2e-4 * moved)
    np.testing.assert_allclose(torch_model.user_vectors, numpy_model.user_vectors, atol=2e-4 * moved)
    np.testing.assert_allclose(torch_model.attribute_embeddings, numpy_model.attribute_embeddings, atol=2e-4 * moved)
    users = np.arange(20)
    matrix, _, _ = brand_world()
    numpy_ids, _ = numpy_model.recommend(users, matrix, n=5)
    torch_ids, _ = torch_model.recommend(users, matrix, n=5)
    assert (numpy_ids == torch_ids).mean() > 0.95  # float order may swap a near tie, not the lists


def test_a_device_is_used_only_when_asked_for_and_present():
    assert two_tower.training_device(False) is None
    assert two_tower.training_device(True) == ("cuda" if torch.cuda.is_available() else None)
