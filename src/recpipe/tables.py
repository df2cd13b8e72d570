"""Logical table names (``layer.table``) -> storage, and every read and write of a table.

Locally a table is a path-based Delta table under ``<data_dir>/lakehouse/<layer>/<table>``; on Databricks it
is the Unity Catalog table ``<catalog>.<schema_prefix><layer>.<table>``. Jobs only ever use logical names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import pandas as pd
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.util import inheritable_thread_target

from recpipe import catalog
from recpipe.config import Settings
from recpipe.errors import MissingInputError, MissingTableError, RecpipeError

log = logging.getLogger(__name__)

LAYERS = ("bronze", "silver", "gold", "quarantine", "monitoring", "sim")  # sim: ground truth of generated data


class TableNameError(RecpipeError, ValueError):
    """A logical table name is malformed or names an unknown layer."""


@dataclass(frozen=True)
class TableRef:
    layer: str
    table: str

    @classmethod
    def parse(cls, logical: str) -> TableRef:
        layer, sep, table = logical.partition(".")
        if not sep or not table or "." in table:
            raise TableNameError(f"table name {logical!r}: expected '<layer>.<table>', e.g. 'bronze.events'")
        if layer not in LAYERS:
            raise TableNameError(f"table name {logical!r}: unknown layer {layer!r} (layers: {', '.join(LAYERS)})")
        return cls(layer, table)


def physical_name(logical: str, settings: Settings) -> str:
    """Where a logical table lives: a Unity Catalog name on Databricks, a Delta path locally."""
    ref = TableRef.parse(logical)
    if settings.platform == "databricks":  # Settings guarantees a catalog there
        return f"{settings.catalog}.{settings.schema_prefix}{ref.layer}.{ref.table}"
    return str((settings.data_dir / "lakehouse" / ref.layer / ref.table).resolve())


def to_pandas(df: DataFrame) -> pd.DataFrame:
    """``df.toPandas()``, typed."""
    return cast(pd.DataFrame, df.toPandas())


def to_pandas_together(frames: Mapping[str, DataFrame], threads: int = 4) -> dict[str, pd.DataFrame]:
    """Every frame of ``frames`` collected as ``to_pandas`` does, at the same time: small collects wait on
    scheduling more than they compute, so their Spark jobs run side by side (Spark runs jobs submitted from
    several threads concurrently). The jobs keep the caller's job group and properties (what the Spark UI and
    the scale benchmark group jobs by). A failure is raised after the others end (the first in ``frames``' order)."""
    if not frames:
        return {}
    collect = inheritable_thread_target(next(iter(frames.values())).sparkSession)(to_pandas)
    with ThreadPoolExecutor(max_workers=min(threads, len(frames)), thread_name_prefix="collect") as pool:
        futures = {name: pool.submit(collect, df) for name, df in frames.items()}
        return {name: future.result() for name, future in futures.items()}


def rows_frame(spark: SparkSession, logical: str, rows: Sequence[Mapping[str, object]]) -> DataFrame:
    """Rows given by column name as a DataFrame of the registered table's columns (``catalog``: one home of the
    column list); a missing or unknown column is an error naming the table."""
    names = [name for name, _ in catalog.split_ddl(catalog.columns(logical))]
    for row in rows:
        if set(row) != set(names):
            raise RecpipeError(
                f"{logical}: row columns {sorted(row)} differ from the table's {names} (catalog.{logical})"
            )
    return spark.createDataFrame([tuple(row[name] for name in names) for row in rows], catalog.columns(logical))


def one_row(df: DataFrame) -> Row:
    """The row of a one-row result: an aggregate without grouping always has exactly one."""
    row = df.first()
    if row is None:
        raise RecpipeError("an aggregate returned no row")
    return row


def first_row(df: DataFrame, table: str, producer: str) -> Row:
    """The first row of a table that must not be empty; else an error saying which job fills it."""
    row = df.first()
    if row is None:
        raise MissingInputError(f"table {table} is empty: run `{producer}` first")
    return row


def _check_registered(df: DataFrame, logical: str) -> None:
    catalog.check_schema(logical, [(f.name, f.dataType.simpleString()) for f in df.schema.fields])


@dataclass
class Tables:
    """Reads and writes tables by logical name and remembers the Delta versions it touched."""

    spark: SparkSession
    settings: Settings
    versions_read: dict[str, int] = field(default_factory=dict)
    versions_written: dict[str, int] = field(default_factory=dict)

    @property
    def _by_path(self) -> bool:
        return self.settings.platform != "databricks"

    def name(self, logical: str) -> str:
        return physical_name(logical, self.settings)

    def _delta_table(self, logical: str) -> DeltaTable:
        if self._by_path:
            return DeltaTable.forPath(self.spark, self.name(logical))
        return DeltaTable.forName(self.spark, self.name(logical))

    def _local_commits(self, logical: str) -> list[int]:
        log_dir = Path(self.name(logical)) / "_delta_log"
        return [int(p.stem) for p in log_dir.glob("*.json") if p.stem.isdigit()] if log_dir.is_dir() else []

    def exists(self, logical: str) -> bool:
        if self._by_path:
            return bool(self._local_commits(logical))
        return self.spark.catalog.tableExists(self.name(logical))

    def version(self, logical: str) -> int:
        """Latest Delta version of a table (locally read off the commit files: no Spark job)."""
        if self._by_path:
            commits = self._local_commits(logical)
            if not commits:
                raise MissingTableError(f"table {logical} ({self.name(logical)}) does not exist")
            return max(commits)
        return int(one_row(self._delta_table(logical).history(1).select("version"))[0])

    def read(self, logical: str, version: int | None = None) -> DataFrame:
        """Read a table (optionally at a Delta version) and record the version read."""
        if not self.exists(logical):
            raise MissingTableError(
                f"table {logical} ({self.name(logical)}) does not exist: run the job that writes it"
            )
        resolved = self.version(logical) if version is None else version
        reader = self.spark.read.format("delta").option("versionAsOf", resolved)
        df = reader.load(self.name(logical)) if self._by_path else reader.table(self.name(logical))
        self.versions_read[logical] = resolved
        return df

    def read_stream(self, logical: str, **options: str) -> DataFrame:
        """A streaming read of a Delta table (``options``: Delta source options such as ``readChangeFeed``)."""
        if not self.exists(logical):
            raise MissingTableError(f"table {logical} ({self.name(logical)}) does not exist: nothing to stream from")
        reader = self.spark.readStream.format("delta").options(**options)
        return reader.load(self.name(logical)) if self._by_path else reader.table(self.name(logical))

    def properties(self, logical: str) -> dict[str, str]:
        """The table's Delta properties (``delta.enableChangeDataFeed``, ...)."""
        return dict(one_row(self._delta_table(logical).detail().select("properties"))[0] or {})

    def _commit_info(self, logical: str) -> dict:
        """The ``commitInfo`` of a table's latest commit (locally read off the commit file: no Spark job)."""
        if self._by_path:
            commit = Path(self.name(logical)) / "_delta_log" / f"{self.version(logical):020d}.json"
            for line in commit.read_text().splitlines():
                info = json.loads(line).get("commitInfo")
                if info is not None:
                    return info
            return {}
        row = self._delta_table(logical).history(1).select("userMetadata", "operationMetrics").first()
        return {"userMetadata": row["userMetadata"], "operationMetrics": row["operationMetrics"] or {}} if row else {}

    def last_writer(self, logical: str) -> str | None:
        """The note (Delta userMetadata) of a table's latest commit: which command wrote it, when recpipe did."""
        return self._commit_info(logical).get("userMetadata")

    def rows_written(self, logical: str) -> int:
        """Rows the latest commit wrote (Delta's ``numOutputRows``): after ``overwrite`` the table's row count,
        without a Spark job; counted when the commit has no such metric."""
        rows = (self._commit_info(logical).get("operationMetrics") or {}).get("numOutputRows")
        return int(rows) if rows is not None else self.read(logical).count()

    def _write(
        self, df: DataFrame, logical: str, mode: str, partition_by: Sequence[str] = (), note: str | None = None
    ) -> int:
        _check_registered(df, logical)
        writer = df.write.format("delta").mode(mode)
        if mode == "overwrite" or not self.exists(logical):  # properties a table is created with
            writer = writer.options(**catalog.REGISTRY[logical].properties if logical in catalog.REGISTRY else {})
        if note:
            writer = writer.option("userMetadata", note)
        if mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        if self._by_path:
            writer.save(self.name(logical))
        else:
            self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {self.name(logical).rsplit('.', 1)[0]}")
            writer.saveAsTable(self.name(logical))
        return self._record_write(logical)

    def _record_write(self, logical: str) -> int:
        version = self.version(logical)
        self.versions_written[logical] = version
        log.info("wrote %s (version %d)", logical, version)
        return version

    def overwrite(self, df: DataFrame, logical: str, partition_by: Sequence[str] = (), note: str | None = None) -> int:
        """Replace a table's content (schema too); returns the new Delta version. ``note`` is kept in the commit."""
        return self._write(df, logical, "overwrite", partition_by, note)

    def append(self, df: DataFrame, logical: str) -> int:
        """Append rows (creating the table if needed); returns the new Delta version."""
        return self._write(df, logical, "append")

    def replace_where(self, df: DataFrame, logical: str, condition: str) -> int:
        """Atomically replace the rows matching ``condition`` with ``df`` (creating the table if needed).

        Reruns are idempotent: e.g. ``run_id = 'x'`` replaces what an earlier attempt of run x wrote. New columns
        are added to the table (earlier rows read them as null), so an added field needs no migration.
        """
        if not self.exists(logical):
            return self.overwrite(df, logical)
        _check_registered(df, logical)
        writer = (
            df.write.format("delta").mode("overwrite").option("replaceWhere", condition).option("mergeSchema", "true")
        )
        if self._by_path:
            writer.save(self.name(logical))
        else:
            writer.saveAsTable(self.name(logical))
        return self._record_write(logical)

    def merge(self, df: DataFrame, logical: str, keys: Sequence[str], delete_missing: bool = False) -> int:
        """Upsert ``df`` into a table on ``keys`` (creating it if needed); returns the new Delta version.

        Args:
            df: new rows; one row per key.
            logical: target table.
            keys: columns that identify a row.
            delete_missing: also delete target rows whose key is absent from ``df``.
        """
        if not self.exists(logical):
            return self.overwrite(df, logical)
        _check_registered(df, logical)
        condition = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        merge = (
            self._delta_table(logical)
            .alias("t")
            .merge(df.alias("s"), condition)
            .withSchemaEvolution()  # like replace_where: a column the source adds is added to the table
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
        )
        if delete_missing:
            merge = merge.whenNotMatchedBySourceDelete()
        merge.execute()
        return self._record_write(logical)
