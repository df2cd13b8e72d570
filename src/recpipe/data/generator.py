"""Synthetic marketplace: users, one-of-a-kind items and interaction events, generated in Spark.

Latent structure the models should recover:

* users and items belong to style groups; a group has a main category, a few brands, a preferred size and a
  price level. Users mostly browse their own group (``in_group_share``).
* item popularity within a group is long-tailed: rank r of n is drawn as ``floor(n * u ** popularity_skew)``.
* items are listed every day; an event never precedes its item's listing or its user's signup.
* an item is purchased at most once, while active; later purchase or add-to-bag intents become views.
* sellers are ordinary users (they also buy); a few bot users produce bursts of views.

Every attribute is a seeded hash of ids (see ``randomness``), so no per-row Python runs and the output does not
depend on partitioning. Item ids are laid out as ``rank * style_groups + group`` so that drawing a popular item
of a group is arithmetic, not a join.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timezone

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from recpipe import schemas
from recpipe.config import GenerateConfig
from recpipe.data.randomness import coprime_multiplier, normal, pick, pick_weighted, uniform

CATEGORIES = ("dresses", "tops", "jeans", "trousers", "knitwear", "coats", "shoes", "bags", "skirts", "accessories")
BRANDS = (
    "Zara", "H&M", "Mango", "Levi's", "Nike", "Adidas", "Uniqlo", "COS", "Arket", "Sezane", "Ganni",
    "Acne Studios", "Patagonia", "The North Face", "Ralph Lauren", "Tommy Hilfiger", "Massimo Dutti",
    "Reformation", "Vans", "Converse", "Dr. Martens", "Carhartt", "Stussy", "Miu Miu",
)
SIZES = ("XS", "S", "M", "L", "XL", "XXL")
CONDITIONS = {"new_with_tags": 0.15, "very_good": 0.45, "good": 0.3, "satisfactory": 0.1}
RAW_EVENT_WEIGHTS = {"view": 0.78, "like": 0.09, "save": 0.06, "add_to_bag": 0.06, "purchase": 0.01}
SURFACE_WEIGHTS = {"home": 0.3, "search": 0.3, "item_page": 0.2, "for_you": 0.15, "profile": 0.05}

MAX_SESSION_LENGTH = 64
BOT_BURST_LENGTH = 200
EVENT_ID_STRIDE = 256  # > both lengths above: event_id = session_id * stride + position
ITEM_CANDIDATES = 4  # draws tried per event until one is already listed at the event time
DAY_SECONDS = 86_400


@dataclass(frozen=True)
class MarketplaceTables:
    users: DataFrame
    items: DataFrame
    events: DataFrame


def _epoch_seconds(d) -> int:
    return int(datetime.combine(d, time(), tzinfo=timezone.utc).timestamp())


class MarketplaceGenerator:
    """Column expressions of the synthetic marketplace for one config; ``generate`` builds the tables."""

    def __init__(self, config: GenerateConfig):
        if config.items < config.style_groups:
            raise ValueError(f"generate: items ({config.items}) must be >= style_groups ({config.style_groups})")
        self.cfg = config
        self.seed = config.seed
        self.window_end = _epoch_seconds(config.end_date)
        self.window_start = self.window_end - config.days * DAY_SECONDS
        self.platform_start = _epoch_seconds(config.platform_start)
        self.n_bots = int(round(config.users * config.bot_user_share)) if config.bot_event_share > 0 else 0
        if config.bot_event_share > 0 and config.bot_user_share > 0:
            self.n_bots = max(self.n_bots, 1)
        self.n_inactive = int(config.users * 0.05)  # signed up, never interacted: cold users
        self.n_active = max(config.users - self.n_inactive, 1)
        self._perm_a = coprime_multiplier(config.users)
        self._item_perm_a = coprime_multiplier(config.items)

    # ---- users -------------------------------------------------------------------------------------------
    def user_from_index(self, index: Column) -> Column:
        """Permute user indices so activity rank is unrelated to user_id."""
        return ((index.cast("long") * self._perm_a + 7) % self.cfg.users).cast("long")

    def user_group(self, user_id: Column) -> Column:
        return F.floor(uniform(self.seed, "user_group", user_id) * self.cfg.style_groups).cast("int")

    def user_signup_seconds(self, user_id: Column) -> Column:
        u = uniform(self.seed, "signup", user_id)
        before = self.window_start - self.platform_start
        # 90% signed up before the window, 10% are new users inside it.
        return F.when(u < 0.9, self.platform_start + (u / 0.9) * before).otherwise(
            self.window_start + ((u - 0.9) / 0.1) * (self.window_end - self.window_start - DAY_SECONDS)
        )

    def users(self, spark: SparkSession, partitions: int) -> DataFrame:
        ids = spark.range(0, self.cfg.users, numPartitions=partitions).select(F.col("id").alias("user_id"))
        u_country = uniform(self.seed, "country", F.col("user_id"))
        return ids.select(
            "user_id",
            pick(self.cfg.countries, u_country ** 1.5).alias("country"),
            F.timestamp_seconds(F.floor(self.user_signup_seconds(F.col("user_id")))).alias("signup_ts"),
        )

    # ---- items -------------------------------------------------------------------------------------------
    def item_group(self, item_id: Column) -> Column:
        return (item_id % self.cfg.style_groups).cast("int")

    def items_in_group(self, group: Column) -> Column:
        g = self.cfg.style_groups
        return F.floor((F.lit(self.cfg.items) - group + (g - 1)) / g).cast("long")

    def item_listed_seconds(self, item_id: Column) -> Column:
        # Stratified: a permutation of item ids spreads listings evenly, so every day has new items.
        earliest = self.window_start - self.cfg.preexisting_item_days * DAY_SECONDS
        slot = (self.window_end - 3600 - earliest) / self.cfg.items
        order = (item_id * self._item_perm_a + self.seed) % self.cfg.items
        return F.floor(earliest + (order + uniform(self.seed, "listed", item_id)) * slot).cast("long")

    def item_seller(self, item_id: Column) -> Column:
        # Cubing the draw makes a few power sellers; sellers are ordinary users.
        return self.user_from_index(F.floor(uniform(self.seed, "seller", item_id) ** 3 * self.cfg.users))

    def _item_attributes(self, item_id: Column) -> list[Column]:
        group = self.item_group(item_id)
        u = lambda salt: uniform(self.seed, salt, item_id)  # noqa: E731
        main_category = F.element_at(F.array(*[F.lit(c) for c in CATEGORIES]), (group % len(CATEGORIES) + 1))
        category = F.when(u("cat_main") < 0.7, main_category).otherwise(pick(CATEGORIES, u("cat")))
        group_brand = F.element_at(
            F.array(*[F.lit(b) for b in BRANDS]), ((group * 3 + F.floor(u("brand") * 3)) % len(BRANDS) + 1).cast("int")
        )
        brand = F.when(u("brand_main") < 0.8, group_brand).otherwise(pick(BRANDS, u("brand_any")))
        size_index = F.least(F.greatest(F.round((group % len(SIZES)) + 0.8 * normal(self.seed, "size", item_id)), F.lit(0)), F.lit(len(SIZES) - 1))
        size = F.element_at(F.array(*[F.lit(s) for s in SIZES]), (size_index + 1).cast("int"))
        price_level = 15.0 * F.pow(F.lit(1.35), (group % 8).cast("double"))
        price = F.round(F.exp(F.log(price_level) + 0.4 * normal(self.seed, "price", item_id)), 2) + 1.0
        return [
            self.item_seller(item_id).alias("seller_id"),
            category.alias("category"),
            brand.alias("brand"),
            size.alias("size"),
            price.alias("price"),
            pick_weighted(CONDITIONS, u("condition")).alias("condition"),
            F.timestamp_seconds(self.item_listed_seconds(item_id)).alias("listed_at"),
        ]

    def _pick_listed_item(self, ts_seconds: Column, draw_item) -> Column:
        """First of ``ITEM_CANDIDATES`` drawn items already listed at ``ts_seconds``; null if none is."""
        choices = []
        for k in range(ITEM_CANDIDATES):
            item = draw_item(k)
            choices.append(F.when(self.item_listed_seconds(item) <= ts_seconds, item))
        return F.coalesce(*choices)

    # ---- events ------------------------------------------------------------------------------------------
    def _browsing_events(self, spark: SparkSession, n_events: int, partitions: int) -> DataFrame:
        cfg, seed = self.cfg, self.seed
        n_sessions = max(int(n_events / cfg.mean_session_length), 1)
        sid = F.col("session_id")
        user = self.user_from_index(F.floor(uniform(seed, "session_user", sid) ** 2 * self.n_active))
        sessions = spark.range(0, n_sessions, numPartitions=partitions).select(F.col("id").alias("session_id"))
        sessions = sessions.select("session_id", user.alias("user_id"))
        lower = F.greatest(F.lit(self.window_start), self.user_signup_seconds(F.col("user_id")))
        start = lower + uniform(seed, "session_start", sid) * (self.window_end - 3600 - lower)
        length = F.least(
            F.lit(MAX_SESSION_LENGTH),
            1 + F.floor(-F.log(1.0 - uniform(seed, "session_len", sid)) * (cfg.mean_session_length - 1)),
        )
        sessions = sessions.select(
            "session_id",
            "user_id",
            start.alias("start_s"),
            pick_weighted(SURFACE_WEIGHTS, uniform(seed, "surface", sid)).alias("surface"),
            F.explode(F.sequence(F.lit(0), length.cast("int") - 1)).alias("pos"),
        )
        eid = F.col("event_id")
        ts = F.least(
            F.col("start_s") + F.col("pos") * 60 + uniform(seed, "gap", eid) * 50, F.lit(self.window_end - 1)
        ).cast("long")
        own_group = self.user_group(F.col("user_id"))
        group = F.when(uniform(seed, "in_group", eid) < cfg.in_group_share, own_group).otherwise(
            F.floor(uniform(seed, "other_group", eid) * cfg.style_groups).cast("int")
        )
        n_group = self.items_in_group(F.col("group"))

        def draw(k: int) -> Column:
            rank = F.floor(n_group * uniform(seed, f"rank{k}", eid) ** cfg.popularity_skew)
            return (rank * cfg.style_groups + F.col("group")).cast("long")

        events = (
            sessions.withColumn("event_id", F.col("session_id") * EVENT_ID_STRIDE + F.col("pos"))
            .withColumn("ts_s", ts)
            .withColumn("group", group)
            .withColumn("item_id", self._pick_listed_item(F.col("ts_s"), draw))
            .where(F.col("item_id").isNotNull())
        )
        raw_type = pick_weighted(RAW_EVENT_WEIGHTS, uniform(seed, "event_type", eid))
        # A seller never buys their own listing: the intent becomes a save.
        raw_type = F.when((raw_type == "purchase") & (self.item_seller(F.col("item_id")) == F.col("user_id")), "save").otherwise(raw_type)
        return events.select("event_id", "user_id", "item_id", raw_type.alias("raw_type"), "ts_s", "session_id", "surface")

    def _bot_events(self, spark: SparkSession, n_events: int, first_session: int, partitions: int) -> DataFrame:
        seed = self.seed
        j = F.col("id")
        burst = F.floor(j / BOT_BURST_LENGTH)
        bot_index = self.cfg.users - 1 - (burst % self.n_bots)  # bots live in the never-browsing tail
        start = self.window_start + uniform(seed, "burst", burst) * (self.window_end - self.window_start - 2 * 3600)
        ts = (start + (j % BOT_BURST_LENGTH) * 3).cast("long")

        def draw(k: int) -> Column:
            return F.floor(uniform(seed, f"bot_item{k}", F.col("event_id")) * self.cfg.items).cast("long")

        session = first_session + burst
        return (
            spark.range(0, n_events, numPartitions=partitions)
            .select(
                (session * EVENT_ID_STRIDE + j % BOT_BURST_LENGTH).cast("long").alias("event_id"),
                self.user_from_index(bot_index).alias("user_id"),
                ts.alias("ts_s"),
                session.cast("long").alias("session_id"),
            )
            .withColumn("item_id", self._pick_listed_item(F.col("ts_s"), draw))
            .where(F.col("item_id").isNotNull())
            .select("event_id", "user_id", "item_id", F.lit("view").alias("raw_type"), "ts_s", "session_id", F.lit("search").alias("surface"))
        )

    def generate(self, spark: SparkSession, partitions: int | None = None) -> MarketplaceTables:
        """Build the three bronze tables (lazily; nothing runs until they are written)."""
        cfg = self.cfg
        total = cfg.events or int(cfg.users * cfg.events_per_user)
        partitions = partitions or max(spark.sparkContext.defaultParallelism, total // 2_000_000)
        n_bot = int(total * cfg.bot_event_share) if self.n_bots else 0
        n_sessions = max(int((total - n_bot) / cfg.mean_session_length), 1)
        raw = self._browsing_events(spark, total - n_bot, partitions)
        if n_bot:
            raw = raw.unionByName(self._bot_events(spark, n_bot, n_sessions, partitions))

        # Each item sells at its first purchase intent; later purchase and add-to-bag intents become views.
        first_purchase = (
            raw.where(F.col("raw_type") == "purchase")
            .groupBy("item_id")
            .agg(F.min(F.struct("ts_s", "event_id")).alias("first"))
            .select("item_id", F.col("first.ts_s").alias("sold_s"), F.col("first.event_id").alias("purchase_event_id"))
        )
        after_sale = F.col("sold_s").isNotNull() & (F.col("ts_s") >= F.col("sold_s"))
        event_type = (
            F.when(F.col("event_id") == F.col("purchase_event_id"), "purchase")
            .when(F.col("raw_type").isin("purchase", "add_to_bag") & after_sale, "view")
            .otherwise(F.col("raw_type"))
        )
        events = raw.join(first_purchase, "item_id", "left").select(
            "event_id", "user_id", "item_id", event_type.alias("event_type"),
            F.timestamp_seconds("ts_s").alias("event_ts"), "session_id", "surface",
        )
        events = _conform(events, schemas.EVENTS)
        return MarketplaceTables(
            users=_conform(self.users(spark, max(1, partitions // 4)), schemas.USERS),
            items=self.items(spark, events, max(1, partitions // 4)),
            events=events,
        )

    def items(self, spark: SparkSession, events: DataFrame, partitions: int) -> DataFrame:
        """The items table; ``sold_at`` and ``status`` come from the purchases in ``events``.

        Pass the *written* events table when there is one, so events are not generated twice.
        """
        sold = events.where(F.col("event_type") == "purchase").select("item_id", F.col("event_ts").alias("sold_at"))
        item_ids = spark.range(0, self.cfg.items, numPartitions=partitions).select(F.col("id").alias("item_id"))
        deleted = uniform(self.seed, "deleted", F.col("item_id")) < self.cfg.deleted_item_share
        items = (
            item_ids.select("item_id", *self._item_attributes(F.col("item_id")))
            .join(sold, "item_id", "left")
            .withColumn(
                "status",
                F.when(F.col("sold_at").isNotNull(), "sold").when(deleted, "deleted").otherwise("active"),
            )
        )
        return _conform(items, schemas.ITEMS)


def _conform(df: DataFrame, schema) -> DataFrame:
    """Cast to the owned schema (types and nullability) so written tables match ``schemas`` exactly."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name, metadata=f.metadata) for f in schema.fields])
