"""The gold lists' composition: which rows have a vector (the numpy rule's Spark twin) and the stamp every list
carries."""

from datetime import datetime

import numpy as np
from chispa import assert_df_equality

from recpipe.models.ranking import has_vector
from recpipe.transforms import served_lists


def test_which_rows_have_a_vector_equals_the_numpy_rule(spark):
    """Parity: an all-zero vector is none, in training's numpy and in the candidates job's Spark alike."""
    vectors = np.array([[0.0, 0.0], [0.0, -0.0], [1e-30, 0.0], [-0.5, 0.5], [0.0, 2.0]], dtype=np.float32)
    frame = spark.createDataFrame(
        [(i, v.tolist()) for i, v in enumerate(vectors)], "item_id long, factors array<float>"
    )
    kept = sorted(r.item_id for r in served_lists.with_vector(frame).collect())
    assert kept == np.flatnonzero(has_vector(vectors)).tolist() == [2, 3, 4]


def test_every_list_is_stamped_with_its_model_version_run_and_as_of_end(spark):
    lists = spark.createDataFrame([(1, [5, 6])], "user_id long, item_ids array<long>")
    end = datetime(2026, 11, 2)
    expected = spark.createDataFrame(
        [(1, [5, 6], "3", "run-a", end)],
        "user_id long, item_ids array<long>, model_version string, run_id string, generated_at timestamp",
    )
    assert_df_equality(lists.transform(served_lists.stamped("3", "run-a", end)), expected, ignore_nullable=True)
