"""Validate a table in one pass: every rule's flag per row, then one aggregation of every rule's count.

Rows that fail any rule go to quarantine with every rule they failed; rows that pass continue. Nothing is
dropped silently: ``total == passed + quarantined`` for every table. Great Expectations validates the one-row
aggregate (each rule's failing count must be zero, the table must not be empty), so the report names every rule
while Spark reads the table once.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from recpipe import catalog
from recpipe.quality.rules import RECORD_COLUMN, DataQualityError, Rule, expectation, with_rule_flags
from recpipe.tables import one_row

if TYPE_CHECKING:
    import great_expectations as gx

log = logging.getLogger(__name__)

RECORD = RECORD_COLUMN
ROWS = "rows"
QUARANTINED = "quarantined"
_names = itertools.count()


@lru_cache(maxsize=1)
def _context():
    # Great Expectations is imported on first use: a job's --help must not pay for its import
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def run_expectations(
    df: pd.DataFrame, suite_name: str, expectations: list[gx.expectations.Expectation], result_format: str = "BASIC"
) -> dict[str, Any]:
    """Run expectations on a pandas DataFrame (the one-row aggregates Spark computed) with an ephemeral GX context;
    return the result as JSON."""
    import great_expectations as gx

    context = _context()
    unique = f"{suite_name}_{next(_names)}"
    batch = (
        context.data_sources.add_pandas(name=unique)
        .add_dataframe_asset(name=unique)
        .add_batch_definition_whole_dataframe(unique)
    )
    suite = context.suites.add(gx.ExpectationSuite(name=unique, expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=unique, data=batch, suite=suite))
    try:
        return definition.run(batch_parameters={"dataframe": df}, result_format=result_format).to_json_dict()
    finally:  # the context lives as long as the process: without this every later run gets slower
        context.validation_definitions.delete(unique)
        context.suites.delete(unique)
        context.data_sources.delete(unique)


def summarize(gx_result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per expectation: rule, column, success and unexpected counts."""
    rows = []
    for item in gx_result["results"]:
        config, result = item["expectation_config"], item.get("result") or {}
        rows.append(
            {
                "rule": (config.get("meta") or {}).get("rule") or config["type"],
                "expectation": config["type"],
                "column": config["kwargs"].get("column"),
                "success": bool(item["success"]),
                "unexpected_count": result.get("unexpected_count"),
                "unexpected_percent": result.get("unexpected_percent"),
                "observed_value": None if result.get("observed_value") is None else str(result.get("observed_value")),
            }
        )
    return rows


def check_columns(df: DataFrame, table: str, schema: StructType) -> list[dict[str, Any]]:
    """Every required schema column exists (read off the schema: no Spark job); otherwise raise naming table,
    column and rule. A column added to the schema later may be missing: ``with_optional_columns`` adds it."""
    required = [f.name for f in schema.fields if not f.metadata.get("may_be_absent") or f.name in df.columns]
    missing = [name for name in required if name not in df.columns]
    if missing:
        reasons = "; ".join(f"column '{name}' is missing (rule {table}.{name}.exists)" for name in missing)
        raise DataQualityError(f"table bronze.{table}: table-level expectation failed: {reasons}")
    return [
        {
            "rule": f"{table}.{name}.exists",
            "expectation": "expect_column_to_exist",
            "column": name,
            "success": True,
            "unexpected_count": None,
            "unexpected_percent": None,
            "observed_value": None,
        }
        for name in required
    ]


@dataclass(frozen=True)
class CountCheck:
    """A rule judged on a one-row aggregate: ``failing`` rows of ``rows`` broke it; at most ``max_share`` may."""

    rule: str
    expectation: str  # the row-level expectation the count stands for (the report's wording)
    column: str | None  # the table column the rule is about
    failing: int
    max_share: float = 0.0

    @property
    def share_column(self) -> str:
        return self.rule.replace(".", "__").replace("*", "all")


def judge_counts(checks: list[CountCheck], rows: int, suite_name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Great Expectations validates every rule's failing share on the one-row aggregate (pandas: no Spark job).

    Returns the report rows (rule, expectation, column, success, unexpected count and percent) and GX's result."""
    import great_expectations as gx

    shares = pd.DataFrame([{c.share_column: c.failing / rows if rows else 0.0 for c in checks}])
    expectations: list[gx.expectations.Expectation] = [
        gx.expectations.ExpectColumnValuesToBeBetween(
            column=c.share_column, min_value=0.0, max_value=c.max_share, meta={"rule": c.rule}
        )
        for c in checks
    ]
    gx_result = run_expectations(shares, suite_name, expectations, "BASIC")
    success = {item["expectation_config"]["meta"]["rule"]: bool(item["success"]) for item in gx_result["results"]}
    report = [
        {
            "rule": c.rule,
            "expectation": c.expectation,
            "column": c.column,
            "success": success[c.rule],
            "unexpected_count": c.failing,
            "unexpected_percent": 100.0 * c.failing / rows if rows else 0.0,
            "observed_value": None,
        }
        for c in checks
    ]
    return report, gx_result


def with_optional_columns(df: DataFrame, schema: StructType) -> DataFrame:
    """Add the columns ``df`` lacks that the schema gained later (a producer older than the column) as nulls."""
    for f in schema.fields:
        if f.name not in df.columns and f.metadata.get("may_be_absent"):
            df = df.withColumn(f.name, F.lit(None).cast(f.dataType))
    return df


def conform_types(df: DataFrame, table: str, schema: StructType) -> tuple[DataFrame, list[Rule]]:
    """Cast every column to its schema type; a value that does not cast fails the rule ``<table>.<col>.typed``."""
    rules = []
    out = df.withColumn(RECORD, F.to_json(F.struct(*[F.col(f.name) for f in schema.fields])))
    for f in schema.fields:
        if df.schema[f.name].dataType == f.dataType:
            continue
        rule = Rule(table, f.name, "typed", {"type": f.dataType.simpleString()})
        casted = F.col(f.name).cast("string").try_cast(f.dataType)
        out = out.withColumn(rule.flag, F.col(f.name).isNull() | casted.isNotNull()).withColumn(f.name, casted)
        rules.append(rule)
    return out, rules


@dataclass
class TableValidation:
    table: str
    valid: DataFrame
    quarantine: DataFrame
    total: int
    quarantined: int
    report: list[dict[str, Any]] = field(default_factory=list)
    gx_result: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The table's logical name."""
        return f"bronze.{self.table}"

    @property
    def share(self) -> float:
        return self.quarantined / self.total if self.total else 0.0


def validate_table(
    df: DataFrame,
    table: str,
    schema: StructType,
    rules: list[Rule],
    run_id: str,
    references: dict[str, DataFrame] | None = None,
) -> TableValidation:
    """Validate one bronze table; the caller decides what to do with the quarantine share.

    Returns the passing rows (schema columns, typed), the quarantined rows (the raw record as JSON and the
    rules it failed), counts, and the Great Expectations report.
    """
    column_report = check_columns(df, table, schema)
    complete = with_optional_columns(df, schema).select(*[f.name for f in schema.fields])
    typed, type_rules = conform_types(complete, table, schema)
    all_rules = [*type_rules, *rules]
    flagged = with_rule_flags(typed, rules, references)
    for type_rule in type_rules:  # a value that did not cast is reported as mistyped, not also as missing
        for rule in rules:
            if rule.kind == "not_null" and rule.column == type_rule.column:
                flagged = flagged.withColumn(rule.flag, F.col(rule.flag) | ~F.col(type_rule.flag))
    failed_rules = F.filter(
        F.array(*[F.when(~F.col(rule.flag), F.lit(rule.name)) for rule in all_rules]), lambda r: r.isNotNull()
    )
    flagged = flagged.withColumn("_failed_rules", failed_rules).cache()
    # One Spark job for every count: rows, quarantined rows and each rule's failing rows.
    counts = one_row(
        flagged.agg(
            F.count(F.lit(1)).alias(ROWS),
            F.count_if(F.size("_failed_rules") > 0).alias(QUARANTINED),
            *[F.count_if(~F.col(rule.flag)).alias(rule.flag) for rule in all_rules],
        )
    )
    total, quarantined = int(counts[ROWS]), int(counts[QUARANTINED])
    if total == 0:
        raise DataQualityError(
            f"table bronze.{table}: table-level expectation failed: table is empty (rule {table}.*.not_empty)"
        )
    checks = [CountCheck(f"{table}.*.not_empty", "expect_table_row_count_to_be_between", None, 0)]
    checks += [
        CountCheck(rule.name, expectation(rule).expectation_type, rule.column, int(counts[rule.flag]))
        for rule in all_rules
    ]
    report, gx_result = judge_counts(checks, total, table)
    passed = flagged.where(F.size("_failed_rules") == 0).select(*[f.name for f in schema.fields])
    quarantine = flagged.where(F.size("_failed_rules") > 0).select(
        F.lit(f"bronze.{table}").alias("table"),
        F.col(RECORD).alias("record"),
        F.col("_failed_rules").alias("failed_rules"),
        F.concat_ws("; ", "_failed_rules").alias("reason"),
        F.lit(run_id).alias("run_id"),
    )
    log.info("validated bronze.%s: %s rows, %s quarantined", table, f"{total:,}", f"{quarantined:,}")
    return TableValidation(table, passed, quarantine, total, quarantined, column_report + report, gx_result)


def enforce_threshold(results: list[TableValidation], max_share: float) -> None:
    """Raise when a table's quarantined share passes ``max_share``, naming the rules that failed most."""
    for result in results:
        if result.share <= max_share:
            continue
        worst = sorted((r for r in result.report if not r["success"]), key=lambda r: -(r["unexpected_count"] or 0))
        detail = ", ".join(f"{r['rule']} ({r['unexpected_count']} rows)" for r in worst[:5])
        raise DataQualityError(
            f"table bronze.{result.table}: {result.quarantined:,} of {result.total:,} rows quarantined "
            f"({result.share:.2%} > threshold {max_share:.2%}); failing rules: {detail}; the rows are in "
            f"{catalog.quarantine_of(result.name)}; fix the input, or raise the threshold with "
            f"--set validation.max_quarantine_share=... (recpipe run: --set interactions.validation.max_quarantine_share=...)"
        )
