"""A model version's personal lists at an as-of, as the candidates job serves them: two stages when the version has
a ranker and ranking is on (retrieval from every source, then the ranker), else one stage (the model's top K by
its vectors). A live experiment's variants are the same lists of another version or with the ranker off."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import reduce

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from recpipe import catalog, ranking_stage, tracking
from recpipe.config import CandidatesConfig
from recpipe.config.experiments import ExperimentConfig
from recpipe.jobs.context import JobContext
from recpipe.run_day import RunDay, as_of_end
from recpipe.transforms import served_lists


@dataclass
class PersonalLists:
    """The lists (``user_id``, the list columns, ``source``, ``item_sources``) and what to release after writing."""

    lists: DataFrame
    inputs: list[ranking_stage.RankingInputs] = field(default_factory=list)

    def release(self) -> None:
        for inputs in self.inputs:
            inputs.release()


def build(
    ctx: JobContext,
    as_of: date,
    version: str,
    ranked: bool,
    exclusions: DataFrame,
    available: DataFrame,
    config: CandidatesConfig,
) -> PersonalLists:
    """``version``'s personal lists; ``ranked``: by its ranker when it has one (else one stage)."""
    t, model = ctx.tables, ctx.config.model
    of_version = F.col("model_version") == version
    user_factors = t.read(catalog.GOLD_USER_FACTORS).where(of_version)
    item_factors = t.read(catalog.GOLD_ITEM_FACTORS).where(of_version)
    ranker = tracking.learned_ranker(ctx.settings, model.name, version) if ranked else None
    if ranker is not None:
        vectors = (user_factors.select("user_id", "factors"), item_factors.select("item_id", "factors"))
        inputs = ranking_stage.ranking_inputs(ctx, as_of, *vectors, ctx.config.ranking, exclusions)
        rerank = ranking_stage.listing_reranking(ctx, inputs.retrieval.listings, vectors[1], as_of_end(as_of))
        lists = ranking_stage.ranked_personal_lists(inputs, ranker, ctx.config.ranking, config, rerank)
        return PersonalLists(lists, [inputs])
    listings = served_lists.listing_vectors(available, item_factors)
    ctx.stages.count("catalog items", len(listings.ids))
    eligible = served_lists.eligible_users(t.read(catalog.SILVER_INTERACTIONS), config.min_user_interactions)
    return PersonalLists(served_lists.personal_lists(ctx.spark, user_factors, eligible, exclusions, listings, config))


def live_experiment(ctx: JobContext, as_of: date) -> ExperimentConfig | None:
    """The experiment the lists of ``as_of`` serve in (they are read from the next day, the run date)."""
    return ctx.config.experiments.live_on(RunDay(as_of).run_date)


def variant_lists(
    ctx: JobContext,
    experiment: ExperimentConfig,
    as_of: date,
    version: str,
    run_id: str,
    exclusions: DataFrame,
    available: DataFrame,
    config: CandidatesConfig,
) -> PersonalLists:
    """Every non-control variant's personal lists, tagged ``experiment, variant`` and stamped with the version
    they were built from: a variant is the run's lists with another model version and/or the ranker on or off."""
    frames, inputs = [], []
    for variant in experiment.variants[1:]:
        ranked = ctx.config.ranking.enabled if variant.ranking is None else variant.ranking
        variant_version = variant.model_version or version
        built = build(ctx, as_of, variant_version, ranked, exclusions, available, config)
        tag = (F.lit(experiment.name).alias("experiment"), F.lit(variant.name).alias("variant"))
        stamp = served_lists.stamped(variant_version, run_id, as_of_end(as_of))
        frames.append(built.lists.select(*tag, "*").transform(stamp))
        inputs += built.inputs
    return PersonalLists(reduce(DataFrame.unionByName, frames), inputs)
