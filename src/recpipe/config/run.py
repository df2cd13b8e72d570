"""One run's whole configuration: a section per job and the registered model every stage refers to.

Every job of a run loads the same ``RunConfig`` from the same sources (``recpipe.config.loader``), so an override of
one section (``--set candidates.max_per_seller=1``) reaches every job that reads it: the served lists, train's
evaluation and the registered model's rules, the list gate and the fresh overlays.
"""

from __future__ import annotations

from pydantic import BaseModel

from recpipe.config.base import StrictModel
from recpipe.config.evaluation import FutureEvaluationConfig
from recpipe.config.experiments import ExperimentsConfig
from recpipe.config.interactions import InteractionsConfig
from recpipe.config.ranking import RankingConfig
from recpipe.config.responsible import ResponsibleConfig
from recpipe.config.serving import AvailabilityConfig, CandidatesConfig, FreshConfig, ListGateConfig, PublishConfig
from recpipe.config.training import ModelReference, TrainConfig, TuneConfig
from recpipe.data.config import GenerateConfig


class RunConfig(StrictModel):
    """A section per job (named as the job) plus ``model``; a section's defaults are its model's."""

    model: ModelReference = ModelReference()
    generate: GenerateConfig = GenerateConfig()
    interactions: InteractionsConfig = InteractionsConfig()
    tune: TuneConfig = TuneConfig()
    train: TrainConfig = TrainConfig()
    candidates: CandidatesConfig = CandidatesConfig()
    ranking: RankingConfig = RankingConfig()
    gate: ListGateConfig = ListGateConfig()
    publish: PublishConfig = PublishConfig()
    evaluate: FutureEvaluationConfig = FutureEvaluationConfig()
    availability: AvailabilityConfig = AvailabilityConfig()
    fresh: FreshConfig = FreshConfig()
    experiments: ExperimentsConfig = ExperimentsConfig()
    responsible: ResponsibleConfig = ResponsibleConfig()


def _section_models() -> dict[str, type[BaseModel]]:
    models: dict[str, type[BaseModel]] = {}
    for name, field in RunConfig.model_fields.items():
        assert isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
        models[name] = field.annotation
    return models


# section name -> its model (a job's config file, `conf/<section>.yml`, must satisfy it)
SECTIONS: dict[str, type[BaseModel]] = _section_models()
