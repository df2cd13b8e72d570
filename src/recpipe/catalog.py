"""Every table the project owns: its logical name (``layer.table``), its columns and what it holds.

The one home of table names and schemas: jobs name tables through these constants, ``Tables`` refuses a write
with a column the registry does not know or of another type, writers build rows with ``columns(name)``, and the
end-to-end test checks that a full run writes every registered column. Bronze is
the exception on write: producers outside recpipe land it as it comes and validation holds it to its schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql.types import StructType

from recpipe import schemas
from recpipe.errors import RecpipeError


class SchemaMismatchError(RecpipeError, ValueError):
    """A write's columns differ from the table's registered columns."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: str  # Spark DDL: "user_id bigint, item_ids array<bigint>, ..."
    doc: str
    enforced: bool = True  # written by recpipe, so every write must match
    properties: dict[str, str] = field(default_factory=dict)  # Delta properties the table is created with

    def fields(self) -> list[tuple[str, str]]:
        return split_ddl(self.columns)


REGISTRY: dict[str, TableSpec] = {}


def _table(name: str, columns: str, doc: str, enforced: bool = True, properties: dict[str, str] | None = None) -> str:
    REGISTRY[name] = TableSpec(name, columns, doc, enforced, properties or {})
    return name


CHANGE_FEED = "delta.enableChangeDataFeed"


def split_ddl(ddl: str) -> list[tuple[str, str]]:
    """``"a bigint, m map<string,double>"`` -> ``[("a", "bigint"), ("m", "map<string,double>")]``."""
    fields, depth, current = [], 0, ""
    for char in ddl + ",":
        depth += char == "<"
        depth -= char == ">"
        if char == "," and depth == 0:
            name, _, kind = current.strip().partition(" ")
            fields.append((name, kind.strip().replace(" ", "")))
            current = ""
        else:
            current += char
    return fields


def columns(name: str) -> str:
    """The registered DDL of a table: the schema writers build its rows with."""
    return REGISTRY[name].columns


def schema_problems(name: str, written: list[tuple[str, str]], complete: bool = False) -> list[str]:
    """How ``written`` columns differ from a registered table's: a column the registry does not know or with
    another type; with ``complete``, also a registered column that is missing."""
    spec = REGISTRY.get(name)
    if spec is None:
        return [f"table {name} is not registered"]
    registered = dict(spec.fields())
    found = {column: kind.replace(" ", "") for column, kind in written}
    problems = [
        f"column {c} is {k}, registered as {registered[c]}"
        for c, k in found.items()
        if c in registered and registered[c] != k
    ]
    problems += [f"column {c} ({k}) is not registered" for c, k in found.items() if c not in registered]
    if complete:
        problems += [f"column {c} ({k}) is missing" for c, k in registered.items() if c not in found]
    return problems


def check_schema(name: str, written: list[tuple[str, str]]) -> None:
    """Raise when a write to a registered table has a column the registry does not know or another type.
    (A write of fewer columns passes: test fixtures write what a job reads; a full run is checked complete.)"""
    spec = REGISTRY.get(name)
    if spec is None or not spec.enforced:
        return
    problems = schema_problems(name, written)
    if problems:
        raise SchemaMismatchError(
            f"table {name}: the write does not match its registered schema (recpipe.catalog): " + "; ".join(problems)
        )


def quarantine_of(bronze_table: str) -> str:
    """``bronze.events`` -> ``quarantine.events``: where a bronze table's failing rows go."""
    return bronze_table.replace("bronze.", "quarantine.", 1)


def _ddl(schema: StructType) -> str:
    return ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in schema.fields)


_EVENT, _ITEM, _USER = _ddl(schemas.EVENTS), _ddl(schemas.ITEMS), _ddl(schemas.USERS)
_QUARANTINE = "table string, record string, failed_rules array<string>, reason string, run_id string"
_LIST = "item_ids array<bigint>, scores array<float>, encoded_list binary"
_STAMP = "model_version string, run_id string, generated_at timestamp"

# bronze: as it lands (validation holds it to recpipe.schemas, whose columns these are)
BRONZE_USERS = _table("bronze.users", _USER, "users as they arrive", enforced=False)
BRONZE_ITEMS = _table(
    "bronze.items",
    _ITEM,
    "listings as they arrive, with their status (its change feed carries status updates to the availability stream)",
    enforced=False,
    properties={CHANGE_FEED: "true"},
)
BRONZE_EVENTS = _table("bronze.events", _EVENT, "interaction events as they arrive", enforced=False)
BRONZE = (BRONZE_USERS, BRONZE_ITEMS, BRONZE_EVENTS)  # what every batch run validates and builds on
BRONZE_IMPRESSIONS = _table(
    "bronze.impressions",
    _ddl(schemas.IMPRESSIONS),
    "what the app showed, a row per listing of a shown list (read by recpipe experiment analyze)",
    enforced=False,
)

# quarantine: failing rows with the rules they broke
QUARANTINE_USERS = _table("quarantine.users", _QUARANTINE, "bronze.users rows that failed validation")
QUARANTINE_ITEMS = _table("quarantine.items", _QUARANTINE, "bronze.items rows that failed validation")
QUARANTINE_EVENTS = _table("quarantine.events", _QUARANTINE, "bronze.events rows that failed validation")
QUARANTINE_IMPRESSIONS = _table("quarantine.impressions", _QUARANTINE, "bronze.impressions rows that failed validation")
QUARANTINE_STREAM_MESSAGES = _table(
    "quarantine.stream_messages",
    _QUARANTINE,
    "messages the availability stream could not read (Kafka: not JSON, no item id, ...), keyed by topic, partition "
    "and offset",
)
QUARANTINE_GOLD_LISTS = _table("quarantine.gold_lists", _QUARANTINE, "gold lists that failed the gate")

# silver: validated, cleaned, model-ready
SILVER_USERS = _table("silver.users", _USER, "validated users")
SILVER_ITEMS = _table("silver.items", _ITEM, "validated listings")
SILVER_DAILY_INTERACTIONS = _table(
    "silver.daily_interactions",
    "user_id bigint, item_id bigint, day date, weighted double, n_events bigint, last_event_ts timestamp, event_types array<string>",
    "per user, listing and day: weighted events (the incremental unit)",
)
SILVER_INTERACTIONS = _table(
    "silver.interactions",
    "user_id bigint, item_id bigint, confidence double, n_events bigint, last_event_ts timestamp, event_types array<string>",
    "implicit-feedback confidence per user and listing over the lookback window",
)
SILVER_USER_INDEX = _table("silver.user_index", "user_id bigint, user_idx int, run_id string", "user id -> matrix row")
SILVER_ITEM_INDEX = _table(
    "silver.item_index", "item_id bigint, item_idx int, run_id string", "item id -> matrix column"
)
SILVER_ITEM_AVAILABILITY = _table(
    "silver.item_availability",
    "item_id bigint, seller_id bigint, status string, listed_at timestamp, sold_at timestamp",
    "each listing's status as of the run",
)

# gold: what is served
GOLD_USER_FACTORS = _table(
    "gold.user_factors", "user_id bigint, factors array<float>, model_version string", "user vectors"
)
GOLD_ITEM_FACTORS = _table(
    "gold.item_factors", "item_id bigint, factors array<float>, model_version string", "listing vectors"
)
GOLD_ITEM_EMBEDDINGS = _table(
    "gold.item_embeddings", "item_id bigint, factors array<float>, model_version string", "item2vec listing vectors"
)
GOLD_USER_CANDIDATES = _table(
    "gold.user_candidates",
    f"user_id bigint, {_LIST}, source string, item_sources array<string>, {_STAMP}",
    "one ranked list per user (personal or a fallback); item_sources: the retrieval source of each item",
)
GOLD_VARIANT_CANDIDATES = _table(
    "gold.variant_candidates",
    f"experiment string, variant string, user_id bigint, {_LIST}, source string, item_sources array<string>, {_STAMP}",
    "the personal lists of a live experiment's other variants, beside the control's gold.user_candidates",
)
GOLD_SIMILAR_ITEMS = _table(
    "gold.similar_items",
    f"item_id bigint, similar_item_ids array<bigint>, scores array<float>, "
    f"encoded_list binary, source string, {_STAMP}",
    "similar listings per listing and source",
)
GOLD_FALLBACK_CANDIDATES = _table(
    "gold.fallback_candidates", f"segment string, {_LIST}, {_STAMP}", "cold-start lists per segment"
)
GOLD_TOPUP_EXCLUSIONS = _table(
    "gold.topup_exclusions", f"user_id bigint, {_LIST}, {_STAMP}", "per user, fallback items a top-up must skip"
)

GOLD_FRESH_LISTINGS = _table(
    "gold.fresh_listings",
    "item_id bigint, seller_id bigint, listed_at timestamp, factors array<float>, model_version string, "
    "batch_version string, fresh_version string",
    "vectors of listings created after the live lists were built, from the model's listing side (recpipe fresh)",
)
GOLD_FRESH_OVERLAYS = _table(
    "gold.fresh_overlays",
    f"user_id bigint, {_LIST}, model_version string, batch_version string, fresh_version string",
    "per user, the best fresh listings since the live lists were built (the latest overlay, merged run after run)",
)

# monitoring: what happened
MONITORING_VALIDATION_RESULTS = _table(
    "monitoring.validation_results",
    "run_id string, table string, rule string, expectation string, column string, success boolean, "
    "unexpected_count bigint, unexpected_percent double, observed_value string",
    "every bronze rule's outcome per run",
)
MONITORING_GATE_RESULTS = _table(
    "monitoring.gate_results",
    "run_id string, rule string, expectation string, observed string, failing bigint, failing_percent double, "
    "bound string, passed boolean",
    "every gate rule's outcome per run",
)
MONITORING_TASK_RUNS = _table(
    "monitoring.task_runs",
    "as_of date, task string, run_id string, total_seconds double, seconds map<string,double>, rows map<string,bigint>",
    "per task run: stage seconds and row counts",
)
MONITORING_PIPELINE_RUNS = _table(
    "monitoring.pipeline_runs",
    "run_id string, as_of date, status string, model_version string, model_metrics map<string,double>, "
    "task_seconds map<string,double>, task_rows map<string,bigint>, quarantined bigint, users bigint, lists bigint, "
    "users_missing bigint, coverage double, fallback_share double, top_items_share double, median_score double, "
    "overlap_at_n double, coverage_change double, score_shift double, depletion double, gate_passed boolean, "
    "gate_failures array<string>, published_version string, future map<string,double>, "
    "responsible map<string,double>",
    "one row per pipeline run: the health report's source",
)
MONITORING_PUBLISH_MANIFESTS = _table(
    "monitoring.publish_manifests",
    "surface string, version string, entries bigint, checksum string, bytes bigint, run_id string, "
    "model_version string, gold_version bigint",
    "what each publish wrote to Redis",
)
MONITORING_FRESH_RUNS = _table(
    "monitoring.fresh_runs",
    "fresh_version string, batch_version string, model_version string, run_id string, listed_after timestamp, "
    "listed_until timestamp, listings bigint, quarantined bigint, users bigint, entries bigint, seconds double, "
    "published_at timestamp",
    "one row per fresh run: which listings it scored and what it published (the next run starts after them)",
)
MONITORING_TUNED_PARAMS = _table(
    "monitoring.tuned_params",
    "as_of date, mlflow_run_id string, metric string, value double, params string",
    "the best hyperparameters of each search",
)
MONITORING_FUTURE_EVALUATION = _table(
    "monitoring.future_evaluation",
    "run_id string, as_of date, list string, horizon_days int, target string, segment string, users bigint, "
    "targets bigint",
    "served lists scored against the next days' events, plus hit_rate_at_K and recall_at_K for each configured k",
    enforced=False,
)  # its metric columns follow the evaluate config's ks
MONITORING_HOLDOUT_EVALUATION = _table(
    "monitoring.holdout_evaluation",
    "run_id string, as_of date, k int, metric string, value double",
    "served lists scored against a public dataset's holdout",
)
MONITORING_EXPERIMENT_RESULTS = _table(
    "monitoring.experiment_results",
    "experiment string, analysed_at timestamp, metric string, method string, variant string, control_value double, "
    "variant_value double, difference double, low double, high double, p_value double, users bigint, "
    "srm_p_value double, blocked boolean",
    "an experiment's reading: per metric, method (plain, cuped, delta, interleaving) and variant against the control",
)
MONITORING_RESPONSIBLE_MEASURES = _table(
    "monitoring.responsible_measures",
    "run_id string, as_of date, measure string, dimension string, segment string, users bigint, value double, "
    "low double, high double",
    "exposure, diversity and coverage of a run's served lists (dimension `lists`) and recall per buyer segment with "
    "bootstrap intervals (dimension: country, size_class, price_level, tenure)",
)
MONITORING_ALERTS = _table(
    "monitoring.alerts",
    "as_of date, checked_at timestamp, stage string, check string, observed double, bound string, blocking boolean, "
    "message string",
    "every threshold a monitor found breached (recpipe monitor)",
)

# sim: ground truth of generated or ingested data
SIM_USERS = _table(
    "sim.users",
    "user_id bigint, size_class int, log_price_level double, utility_vector array<float>",
    "generated users' true taste",
)
SIM_ITEMS = _table("sim.items", "item_id bigint, utility_vector array<float>", "generated listings' true attributes")
SIM_HOLDOUT = _table(
    "sim.holdout",
    "user_id bigint, item_id bigint, rating double, event_ts timestamp",
    "a public dataset's held-out ratings",
)
