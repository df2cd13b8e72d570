"""Row and table rules, each defined once and turned into both a Great Expectations expectation (the report)
and a Spark predicate (which rows go to quarantine).

A rule's name reads ``<table>.<column>.<rule>``, e.g. ``events.event_type.in_set``; that name is what the
quarantine table, the validation report and error messages show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import great_expectations as gx
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recpipe.errors import RecpipeError

FLAG_PREFIX = "_ok__"  # derived boolean columns: True when the row passes the rule


class DataQualityError(RecpipeError, RuntimeError):
    """Input failed validation; the message names the table, the column and the rule."""


@dataclass(frozen=True)
class Rule:
    table: str
    column: str
    kind: str  # not_null | in_set | between | unique | references | typed
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}.{self.kind}"

    @property
    def flag(self) -> str:
        return FLAG_PREFIX + self.name.replace(".", "__")

    def describe(self) -> str:
        detail = {
            "not_null": "must not be null",
            "in_set": f"must be one of {self.params.get('values')}",
            "between": f"must be in [{self.params.get('min')}, {self.params.get('max')}]"
            + (" (min exclusive)" if self.params.get("strict_min") else ""),
            "unique": "must be unique (later copies fail)",
            "references": f"must exist in {self.params.get('target')}",
            "typed": f"must be a valid {self.params.get('type')}",
        }[self.kind]
        return f"{self.name}: {self.column} {detail}"


def _between(column: Column, rule: Rule) -> Column:
    low, high = rule.params.get("min"), rule.params.get("max")
    ok = F.lit(True)
    if low is not None:
        ok = ok & ((column > F.lit(low)) if rule.params.get("strict_min") else (column >= F.lit(low)))
    if high is not None:
        ok = ok & (column <= F.lit(high))
    return ok


def with_rule_flags(df: DataFrame, rules: list[Rule], references: dict[str, DataFrame] | None = None) -> DataFrame:
    """Add one boolean column per rule: True when the row passes. Null values pass every rule but not_null
    (as in Great Expectations), so a null is reported once, by its own rule."""
    references = references or {}
    for rule in rules:
        col = F.col(rule.column)
        if rule.kind == "not_null":
            ok = col.isNotNull()
        elif rule.kind == "in_set":
            ok = col.isNull() | col.isin(list(rule.params["values"]))
        elif rule.kind == "between":
            ok = col.isNull() | _between(col, rule)
        elif rule.kind == "unique":
            order = [F.col(c).asc_nulls_last() for c in rule.params.get("order_by", [rule.column])]
            rank = F.row_number().over(Window.partitionBy(rule.column).orderBy(*order))
            ok = col.isNull() | (rank == 1)
        elif rule.kind == "references":
            keys = references[rule.params["target"]].select(F.col(rule.params["key"]).alias(rule.column)).distinct()
            df = df.join(keys.withColumn(rule.flag, F.lit(True)), rule.column, "left")
            ok = col.isNull() | F.coalesce(F.col(rule.flag), F.lit(False))
        elif rule.kind == "typed":
            continue  # set by conform_types, which sees the raw value
        else:
            raise ValueError(f"unknown rule kind {rule.kind!r} in {rule.name}")
        df = df.withColumn(rule.flag, ok)
    return df


def expectation(rule: Rule) -> gx.expectations.Expectation:
    """The Great Expectations expectation reporting the same rule (derived flags for cross-table and type rules)."""
    E = gx.expectations
    meta = {"rule": rule.name}
    if rule.kind == "not_null":
        return E.ExpectColumnValuesToNotBeNull(column=rule.column, meta=meta)
    if rule.kind == "in_set":
        return E.ExpectColumnValuesToBeInSet(column=rule.column, value_set=list(rule.params["values"]), meta=meta)
    if rule.kind == "between":
        return E.ExpectColumnValuesToBeBetween(
            column=rule.column,
            min_value=rule.params.get("min"),
            max_value=rule.params.get("max"),
            strict_min=bool(rule.params.get("strict_min", False)),
            meta=meta,
        )
    if rule.kind == "unique":
        return E.ExpectColumnValuesToBeUnique(column=rule.column, meta=meta)
    # references and typed: computed in Spark, reported through their flag column
    return E.ExpectColumnValuesToBeInSet(column=rule.flag, value_set=[True], meta=meta)


def bronze_rules(table: str, platform_start: datetime, now: datetime) -> list[Rule]:
    """The row rules of a bronze table."""
    from recpipe.schemas import EVENT_TYPES, ITEM_STATUSES

    not_null = lambda *cols: [Rule(table, c, "not_null") for c in cols]
    in_time = lambda c: Rule(table, c, "between", {"min": platform_start, "max": now})
    if table == "users":
        return [*not_null("user_id", "country", "signup_ts"), Rule(table, "user_id", "unique"), in_time("signup_ts")]
    if table == "items":
        return [
            *not_null("item_id", "seller_id", "price", "listed_at", "status"),
            Rule(table, "item_id", "unique"),
            Rule(table, "price", "between", {"min": 0, "strict_min": True}),
            Rule(table, "status", "in_set", {"values": ITEM_STATUSES}),
            in_time("listed_at"),
        ]
    if table == "events":
        return [
            *not_null("event_id", "user_id", "item_id", "event_type", "event_ts"),
            Rule(
                table, "event_id", "unique", {"order_by": ["event_id", "event_ts", "user_id", "item_id", "event_type"]}
            ),
            Rule(table, "event_type", "in_set", {"values": EVENT_TYPES}),
            in_time("event_ts"),
            Rule(table, "user_id", "references", {"target": "users", "key": "user_id"}),
            Rule(table, "item_id", "references", {"target": "items", "key": "item_id"}),
        ]
    raise ValueError(f"no rules for table {table!r}")
