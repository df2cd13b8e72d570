"""The synthetic resale marketplace as Spark tables: bronze users, items and events, plus the ground truth.

The people, listings and sessions are defined in numpy (``world``, ``behaviour``) as hashes of ids; Spark runs
them over ranges of ids with ``mapInArrow``, so the work is distributed, the output does not depend on
partitioning, and the same seed gives the same tables anywhere. A listing sells at its first purchase, which
depends on every session, so sessions are replayed three times (see ``behaviour.SaleState``): two passes collect
only each listing's first purchase (one row per listing reaches the driver), the third writes the events.

Ground truth stays out of bronze: ``sim.users`` and ``sim.items`` hold the vectors whose dot product is the true
utility, so evaluation can list each user's truly best live items (the oracle).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from recpipe import schemas
from recpipe.config import GenerateConfig
from recpipe.data.behaviour import EVENT_TYPES, NEVER, SURFACES, Events, SaleState, SessionSimulator
from recpipe.data.world import BRANDS, CATEGORIES, CONDITIONS, SIZE_LABELS, World

log = logging.getLogger(__name__)

PILOT_SESSIONS = 4_000
SESSIONS_PER_PARTITION = 250_000
RAW_EVENTS = "event_id long, user_id long, item_id long, event_type string, ts_s long, session_id long, surface string"


def _arrow(ddl: str) -> pa.Schema:
    """The Arrow schema of a flat DDL string of long, int, double, string and array<float> columns."""
    types = {
        "long": pa.int64(),
        "int": pa.int32(),
        "double": pa.float64(),
        "string": pa.string(),
        "array<float>": pa.list_(pa.float32()),
    }
    return pa.schema([(name, types[kind]) for name, kind in (f.strip().split(" ", 1) for f in ddl.split(","))])


RAW_USERS = "user_id long, country string, signup_s long"
RAW_ITEMS = (
    "item_id long, seller_id long, category string, brand string, size string, price double, condition string, "
    "listed_s long, sold_s long, deleted_s long, status string"
)
SIM_USERS = "user_id long, size_class int, log_price_level double, utility_vector array<float>"
SIM_ITEMS = "item_id long, utility_vector array<float>"


@dataclass(frozen=True)
class MarketplaceTables:
    users: DataFrame
    items: DataFrame
    events: DataFrame
    sim_users: DataFrame
    sim_items: DataFrame


@lru_cache(maxsize=2)
def _world(config_json: str) -> World:
    """One World per config and Python worker: the catalog is built once, not once per batch."""
    return World(GenerateConfig.model_validate_json(config_json))


def _labels(codes: np.ndarray, labels: tuple[str, ...]) -> pa.Array:
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(labels)).dictionary_decode()


def _vectors(matrix: np.ndarray) -> pa.Array:
    n, d = matrix.shape
    return pa.ListArray.from_arrays(pa.array(np.arange(0, n * d + 1, d, dtype=np.int32)), pa.array(matrix.ravel()))


def _ids(batches: Iterator[pa.RecordBatch]) -> Iterator[np.ndarray]:
    for batch in batches:
        yield batch.column(0).to_numpy().astype(np.int64)


def _events_batch(events: Events) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(
        [
            pa.array(events.event_id),
            pa.array(events.user_id),
            pa.array(events.item_id),
            _labels(events.event_type, EVENT_TYPES),
            pa.array(events.ts_s),
            pa.array(events.session_id),
            _labels(events.surface, SURFACES),
        ],
        names=["event_id", "user_id", "item_id", "event_type", "ts_s", "session_id", "surface"],
    )


class MarketplaceGenerator:
    """Builds the marketplace tables for one config; ``generate`` runs the two sale passes eagerly."""

    def __init__(self, config: GenerateConfig):
        self.cfg = config
        self.config_json = config.model_dump_json()
        self.world = World(config)

    def session_count(self, sales: SaleState | None = None) -> int:
        """Sessions needed for about ``config.target_events`` events, from a pilot of the first sessions replayed
        knowing ``sales`` (sold listings are not shown, so sessions yield fewer events than in an unsold world)."""
        sales = sales or SaleState.unsold(self.cfg.items)
        pilot = SessionSimulator(self.world, sales).events(np.arange(PILOT_SESSIONS))
        per_session = max(len(pilot.event_id) / PILOT_SESSIONS, 1e-3)
        return max(1, math.ceil(self.cfg.target_events / per_session))

    # ---- Spark plumbing -------------------------------------------------------------------------------------
    def _sessions(self, spark: SparkSession, n_sessions: int, partitions: int) -> DataFrame:
        return spark.range(0, n_sessions, numPartitions=partitions)

    def _simulate(self, sessions: DataFrame, sales: SaleState, purchases_only: bool) -> DataFrame:
        config_json = self.config_json

        def simulate(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            simulator = SessionSimulator(_world(config_json), sales)
            for ids in _ids(batches):
                yield _events_batch(simulator.events(ids, purchases_only=purchases_only))

        return sessions.mapInArrow(simulate, RAW_EVENTS)

    def _first_purchases(self, sessions: DataFrame, sales: SaleState) -> tuple[np.ndarray, np.ndarray]:
        """Per listing, the time and event id of its first purchase in one pass (NEVER / -1 if none)."""
        first = (
            self._simulate(sessions, sales, purchases_only=True)
            .groupBy("item_id")
            .agg(F.min(F.struct("ts_s", "event_id")).alias("first"))
            .select("item_id", "first.ts_s", "first.event_id")
            .toArrow()
        )
        sold_s = np.full(self.cfg.items, NEVER, dtype=np.int64)
        sale_event = np.full(self.cfg.items, -1, dtype=np.int64)
        items = first.column("item_id").to_numpy()
        sold_s[items] = first.column("ts_s").to_numpy()
        sale_event[items] = first.column("event_id").to_numpy()
        return sold_s, sale_event

    def sales(self, spark: SparkSession, partitions: int | None = None) -> tuple[int, SaleState]:
        """The session count and the final pass's SaleState (two Spark passes).

        Pass 1 only approximates sale times (to hide sold listings in pass 2), so its session count comes from an
        unsold pilot; passes 2 and 3 replay the sessions sized by a pilot that knows pass 1's sales."""
        sessions = lambda n: self._sessions(spark, n, partitions or self._partitions(spark, n))
        first_sold, _ = self._first_purchases(sessions(self.session_count()), SaleState.unsold(self.cfg.items))
        n_sessions = self.session_count(SaleState(first_sold))
        sold_s, sale_event = self._first_purchases(sessions(n_sessions), SaleState(first_sold))
        log.info(
            "generate: %s sessions over %d partitions; %s of %s listings sell",
            f"{n_sessions:,}",
            partitions or self._partitions(spark, n_sessions),
            f"{int((sold_s < NEVER).sum()):,}",
            f"{self.cfg.items:,}",
        )
        return n_sessions, SaleState(np.minimum(first_sold, sold_s), sold_s, sale_event)

    @staticmethod
    def _partitions(spark: SparkSession, n_sessions: int) -> int:
        return max(spark.sparkContext.defaultParallelism, n_sessions // SESSIONS_PER_PARTITION)

    # ---- tables ---------------------------------------------------------------------------------------------
    def events(
        self, spark: SparkSession, n_sessions: int, sales: SaleState, partitions: int | None = None
    ) -> DataFrame:
        partitions = partitions or self._partitions(spark, n_sessions)
        raw = self._simulate(self._sessions(spark, n_sessions, partitions), sales, purchases_only=False)
        return _conform(raw.withColumn("event_ts", F.timestamp_seconds("ts_s")), schemas.EVENTS)

    def _by_id(
        self, spark: SparkSession, n: int, schema: str, build: Callable[[World, np.ndarray], list[pa.Array]]
    ) -> DataFrame:
        """``build``'s columns (in ``schema``'s order) for ids ``0 .. n - 1``."""
        config_json, arrow_schema = self.config_json, _arrow(schema)

        def rows(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
            world = _world(config_json)
            for ids in _ids(batches):
                yield pa.RecordBatch.from_arrays(build(world, ids), schema=arrow_schema)

        partitions = max(1, min(spark.sparkContext.defaultParallelism, n // 50_000 + 1))
        return spark.range(0, n, numPartitions=partitions).mapInArrow(rows, schema)

    def users(self, spark: SparkSession) -> DataFrame:
        countries = self.cfg.countries

        def build(world: World, ids: np.ndarray) -> list[pa.Array]:
            users = world.users(ids)
            return [pa.array(ids), _labels(users.country, countries), pa.array(users.signup_s)]

        raw = self._by_id(spark, self.cfg.users, RAW_USERS, build)
        return _conform(raw.withColumn("signup_ts", F.timestamp_seconds("signup_s")), schemas.USERS)

    def items(self, spark: SparkSession, sales: SaleState) -> DataFrame:
        """Listings as of the window's end: sold at their selling purchase, deleted when the seller removed them."""
        sold_s, window_end = sales.sold_s, self.world.window_end

        def build(world: World, ids: np.ndarray) -> list[pa.Array]:
            listings = world.listings(ids)
            sold = sold_s[ids]
            deleted = (sold == NEVER) & (listings.delist_s < window_end)
            status = np.where(
                sold < NEVER,
                schemas.ITEM_STATUSES.index("sold"),
                np.where(deleted, schemas.ITEM_STATUSES.index("deleted"), schemas.ITEM_STATUSES.index("active")),
            )
            return [
                pa.array(ids),
                pa.array(listings.seller_id),
                _labels(listings.category, CATEGORIES),
                _labels(listings.brand, BRANDS),
                _labels(listings.size_label, SIZE_LABELS),
                pa.array(listings.price),
                _labels(listings.condition, CONDITIONS),
                pa.array(listings.listed_s),
                pa.array(np.where(sold < NEVER, sold, 0), mask=sold == NEVER),
                pa.array(listings.delist_s, mask=~deleted),
                _labels(status, schemas.ITEM_STATUSES),
            ]

        raw = self._by_id(spark, self.cfg.items, RAW_ITEMS, build)
        timed = raw.select(
            "*", *[F.timestamp_seconds(f"{c}_s").alias(f"{c}_at") for c in ("listed", "sold", "deleted")]
        )
        return _conform(timed, schemas.ITEMS)

    def sim_users(self, spark: SparkSession) -> DataFrame:
        def build(world: World, ids: np.ndarray) -> list[pa.Array]:
            users = world.users(ids)
            return [
                pa.array(ids),
                pa.array(users.size_class.astype(np.int32)),
                pa.array(users.log_price),
                _vectors(world.user_vectors(users)),
            ]

        return self._by_id(spark, self.cfg.users, SIM_USERS, build)

    def sim_items(self, spark: SparkSession) -> DataFrame:
        def build(world: World, ids: np.ndarray) -> list[pa.Array]:
            return [pa.array(ids), _vectors(world.item_vectors(world.listings(ids)))]

        return self._by_id(spark, self.cfg.items, SIM_ITEMS, build)

    def generate(self, spark: SparkSession, partitions: int | None = None) -> MarketplaceTables:
        """Run the sale passes (eager), then return the tables (lazy: nothing more runs until they are written)."""
        n_sessions, sales = self.sales(spark, partitions)
        return MarketplaceTables(
            users=self.users(spark),
            items=self.items(spark, sales),
            events=self.events(spark, n_sessions, sales, partitions),
            sim_users=self.sim_users(spark),
            sim_items=self.sim_items(spark),
        )


def _conform(df: DataFrame, schema: StructType) -> DataFrame:
    """Cast to the owned schema (types and nullability) so written tables match ``schemas`` exactly."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name, metadata=f.metadata) for f in schema.fields])
