"""Row and table rules, each defined once and turned into both a Great Expectations expectation (the report)
and a Spark predicate (which rows go to quarantine).

A rule's name reads ``<table>.<column>.<rule>``, e.g. ``events.event_type.in_set``; that name is what the
quarantine table, the validation report and error messages show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from recpipe.errors import RecpipeError
from recpipe.transforms.availability import counts_as_sale, is_purchase

if TYPE_CHECKING:
    import great_expectations as gx

FLAG_PREFIX = "_ok__"  # derived boolean columns: True when the row passes the rule
RECORD_COLUMN = "_record"  # the raw row as JSON (validation adds it): the last tie-break between duplicates


class DataQualityError(RecpipeError, RuntimeError):
    """Input failed validation; the message names the table, the column and the rule."""


@dataclass(frozen=True)
class Rule:
    table: str
    column: str
    kind: str  # not_null | in_set | between | unique | references | typed | purchase_after_listing | sold_once
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
            "unique": "must be unique: the row kept is the first by "
            + ", ".join(f"{c} {d}" for c, d in self.params.get("order_by", [(self.column, "asc")]))
            + ", then the whole record; the other copies fail",
            "references": f"must exist in {self.params.get('target')}",
            "typed": f"must be a valid {self.params.get('type')}",
            "purchase_after_listing": f"of a purchase must not precede the listing's listed_at in {self.params.get('target')}",
            "sold_once": f"of a purchase must name a listing not sold before it (by {self.params.get('target')}.sold_at "
            "or an earlier purchase)",
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


LISTED_AT, SOLD_AT = "_listing_listed_at", "_listing_sold_at"  # the purchased listing's, joined for sale rules


def _with_listing(df: DataFrame, rule: Rule, references: dict[str, DataFrame]) -> DataFrame:
    """Join the purchased listing's ``listed_at`` and ``sold_at`` (once for every sale rule)."""
    if LISTED_AT in df.columns:
        return df
    listings = references[rule.params["target"]].select(
        F.col(rule.params.get("key", "item_id")).alias("item_id"),
        F.col("listed_at").alias(LISTED_AT),
        F.col("sold_at").alias(SOLD_AT),
    )
    return df.join(listings, "item_id", "left")


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
            order = [
                F.col(c).desc_nulls_last() if direction == "desc" else F.col(c).asc_nulls_last()
                for c, direction in rule.params.get("order_by", [(rule.column, "asc")])
            ]
            rank = F.row_number().over(Window.partitionBy(rule.column).orderBy(*order, F.col(RECORD_COLUMN)))
            ok = col.isNull() | (rank == 1)
        elif rule.kind == "references":
            keys = references[rule.params["target"]].select(F.col(rule.params["key"]).alias(rule.column)).distinct()
            df = df.join(keys.withColumn(rule.flag, F.lit(True)), rule.column, "left")
            ok = col.isNull() | F.coalesce(F.col(rule.flag), F.lit(False))
        elif rule.kind == "purchase_after_listing":
            df = _with_listing(df, rule, references)
            ok = ~is_purchase(F.col("event_type")) | counts_as_sale(F.col("event_ts"), F.col(LISTED_AT))
        elif rule.kind == "sold_once":
            df = _with_listing(df, rule, references)
            sale = is_purchase(F.col("event_type")) & counts_as_sale(F.col("event_ts"), F.col(LISTED_AT))
            nth = F.row_number().over(
                Window.partitionBy("item_id", sale).orderBy("event_ts", "event_id", RECORD_COLUMN)
            )
            after_sold = F.coalesce(F.col("event_ts") > F.col(SOLD_AT), F.lit(False))
            ok = ~sale | ((nth == 1) & ~after_sold)
        elif rule.kind == "typed":
            continue  # set by conform_types, which sees the raw value
        else:
            raise ValueError(f"unknown rule kind {rule.kind!r} in {rule.name}")
        df = df.withColumn(rule.flag, ok)
    return df


def expectation(rule: Rule) -> gx.expectations.Expectation:
    """The Great Expectations expectation reporting the same rule (derived flags for cross-table and type rules)."""
    import great_expectations as gx  # here, not at the top: a job's --help must not pay for its import

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


# Which copy of a duplicated row is kept, per table: the newest state, then the whole record (byte order).
KEEP_ORDER = {
    "users": [("signup_ts", "desc")],
    "items": [("listed_at", "desc"), ("sold_at", "desc"), ("deleted_at", "desc")],
    "events": [("event_ts", "asc")],  # an event id sent twice: the first delivery
    "impressions": [("impression_ts", "asc")],
}


def bronze_rules(table: str, platform_start: datetime, now: datetime) -> list[Rule]:
    """The row rules of a bronze table: every column the contract marks required must be set, then the table's
    own rules."""
    from recpipe.schemas import BRONZE_SCHEMAS, EVENT_TYPES, ITEM_STATUSES, SURFACES

    required = [Rule(table, f.name, "not_null") for f in BRONZE_SCHEMAS[table].fields if f.metadata.get("required")]
    in_time = lambda c: Rule(table, c, "between", {"min": platform_start, "max": now})
    unique = lambda c: Rule(table, c, "unique", {"order_by": KEEP_ORDER[table]})
    if table == "users":
        return [*required, unique("user_id"), in_time("signup_ts")]
    if table == "items":
        return [
            *required,
            unique("item_id"),
            Rule(table, "price", "between", {"min": 0, "strict_min": True}),
            Rule(table, "status", "in_set", {"values": ITEM_STATUSES}),
            in_time("listed_at"),
        ]
    if table == "events":
        return [
            *required,
            unique("event_id"),
            Rule(table, "event_type", "in_set", {"values": EVENT_TYPES}),
            in_time("event_ts"),
            Rule(table, "user_id", "references", {"target": "users", "key": "user_id"}),
            Rule(table, "item_id", "references", {"target": "items", "key": "item_id"}),
            Rule(table, "event_ts", "purchase_after_listing", {"target": "items", "key": "item_id"}),
            Rule(table, "item_id", "sold_once", {"target": "items", "key": "item_id"}),
        ]
    if table == "impressions":
        return [
            *required,
            unique("impression_id"),
            Rule(table, "position", "between", {"min": 0}),
            Rule(table, "surface", "in_set", {"values": SURFACES}),
            in_time("impression_ts"),
        ]
    raise ValueError(f"no rules for table {table!r}")
