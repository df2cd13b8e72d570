"""An experiment's reading: every variant against the control, per metric and method, after the sample-ratio check
(``monitoring.experiment_results`` rows; ``experiment_stats`` holds the statistics)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from recpipe.config.experiments import ExperimentConfig, ExperimentsConfig
from recpipe.monitoring import experiment_stats as es
from recpipe.transforms.experiment_metrics import RATIO_METRICS, USER_METRICS


@dataclass(frozen=True)
class ResultRow:
    experiment: str
    analysed_at: datetime
    metric: str
    method: str  # plain | cuped | delta | interleaving
    variant: str
    control_value: float
    variant_value: float
    difference: float
    low: float
    high: float
    p_value: float
    users: int
    srm_p_value: float
    blocked: bool

    @classmethod
    def of(
        cls, experiment: str, at: datetime, metric: str, method: str, variant: str, d: es.Difference, users: int,
        srm_p_value: float, blocked: bool,
    ) -> ResultRow:  # fmt: skip
        fields = (d.control, d.treatment, d.difference, d.low, d.high, d.p_value)
        return cls(experiment, at, metric, method, variant, *fields, users, srm_p_value, blocked)


# method -> how a variant's sums are compared with the control's, per kind of metric
USER_METHODS = {"plain": es.mean_difference, "cuped": es.cuped_difference}
RATIO_METHODS = {"delta": es.ratio_difference}


def exposed_counts(sums: dict[str, dict[str, es.MomentSums]], experiment: ExperimentConfig) -> list[float]:
    """Exposed users per configured variant (in the configured order; 0 for a variant nobody saw)."""
    any_metric = next(iter(USER_METRICS))
    return [sums[v.name][any_metric].n if v.name in sums else 0.0 for v in experiment.variants]


def read_ab(
    sums: dict[str, dict[str, es.MomentSums]], experiment: ExperimentConfig, config: ExperimentsConfig, at: datetime
) -> list[ResultRow]:
    """Each variant against the control: user metrics plain and with CUPED, ratio metrics by the delta method.
    A sample ratio mismatch (p below ``config.srm_p_value``) marks every row blocked: no difference may be read."""
    counts = dict(zip((v.name for v in experiment.variants), exposed_counts(sums, experiment)))
    srm = es.sample_ratio_mismatch(list(counts.values()), [v.weight for v in experiment.variants])
    blocked = srm < config.srm_p_value
    control = experiment.variants[0].name
    rows: list[ResultRow] = []
    for variant in (v.name for v in experiment.variants[1:] if control in sums and v.name in sums):
        users = int(counts[control] + counts[variant])
        for metrics, methods in ((USER_METRICS, USER_METHODS), (RATIO_METRICS, RATIO_METHODS)):
            for metric in metrics:
                for method, compare in methods.items():
                    d = compare(sums[control][metric], sums[variant][metric], config.alpha)
                    rows.append(ResultRow.of(experiment.name, at, metric, method, variant, d, users, srm, blocked))
    return rows


def read_interleaving(
    control_wins: int,
    treatment_wins: int,
    exposed: int,
    experiment: ExperimentConfig,
    config: ExperimentsConfig,
    at: datetime,
) -> list[ResultRow]:
    """The treatment's preference share among decided users, against one half (no sample-ratio check: every
    user sees both)."""
    ties = max(exposed - control_wins - treatment_wins, 0)
    p = es.interleaving_preference(control_wins, treatment_wins, ties, config.alpha)
    difference = es.Difference(0.5, p.share, p.share - 0.5, p.low - 0.5, p.high - 0.5, p.p_value)
    variant, d = experiment.variants[1].name, difference
    return [ResultRow.of(experiment.name, at, "preference", "interleaving", variant, d, exposed, 1.0, False)]


def as_records(rows: list[ResultRow]) -> list[dict[str, Any]]:
    return [asdict(r) for r in rows]
