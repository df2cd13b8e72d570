"""The people and listings of the synthetic resale marketplace, as numpy arrays computed from ids.

Users have a continuous taste vector, a size, a log price level and a country; users ``0 .. n_old - 1`` signed
up before the window (they are the sellers), the rest sign up during it. Listings are created at a steady rate
over the window by sellers (a few power sellers list a lot) with a category, brand, size, price and condition,
and a latent style: part category and brand (what attributes predict), part "photo" (what they do not).

True utility of (user, item) is one dot product of augmented vectors (``user_vectors . item_vectors``):

    taste_weight * taste . style  +  size_weight * (fit - 1)  -  price_weight * (log price - price level)^2
    +  country_weight * [same country]

so ground truth (the oracle's ranking) can be scored with the same top-k machinery as a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import cached_property

import numpy as np

from recpipe.config import PLATFORM_START, GenerateConfig
from recpipe.data.hashing import Draws, Permutation

DAY_SECONDS = 86_400

CATEGORIES = ("dresses", "tops", "jeans", "trousers", "knitwear", "coats", "shoes", "bags", "skirts", "accessories")
CATEGORY_WEIGHTS = (0.12, 0.18, 0.1, 0.08, 0.1, 0.08, 0.14, 0.08, 0.06, 0.06)
CATEGORY_LOG_PRICE = (3.1, 2.6, 3.0, 2.9, 3.0, 3.7, 3.5, 3.6, 2.8, 2.4)
BRANDS = (
    "Zara",
    "H&M",
    "Mango",
    "Levi's",
    "Nike",
    "Adidas",
    "Uniqlo",
    "COS",
    "Arket",
    "Sezane",
    "Ganni",
    "Acne Studios",
    "Patagonia",
    "The North Face",
    "Ralph Lauren",
    "Tommy Hilfiger",
    "Massimo Dutti",
    "Reformation",
    "Vans",
    "Converse",
    "Dr. Martens",
    "Carhartt",
    "Stussy",
    "Miu Miu",
)
# A brand's log-price offset: high street below zero, premium above.
BRAND_LOG_PRICE = (
    -0.4,
    -0.5,
    -0.3,
    0.0,
    0.0,
    0.0,
    -0.3,
    0.3,
    0.3,
    0.6,
    0.7,
    1.0,
    0.6,
    0.5,
    0.4,
    0.2,
    0.2,
    0.7,
    -0.1,
    -0.1,
    0.3,
    0.2,
    0.4,
    1.6,
)
SIZE_CLASSES = 6  # XS .. XXL; shoes map onto the same six steps
LETTER_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
SHOE_SIZES = ("36", "37", "38", "39", "40", "41", "42", "43", "44", "45")
SHOE_CLASS = (0, 0, 1, 2, 2, 3, 3, 4, 5, 5)  # size class of each shoe size
ONE_SIZE = "One size"
SIZE_LABELS = (*LETTER_SIZES, *SHOE_SIZES, ONE_SIZE)
SIZE_CLASS_WEIGHTS = (0.08, 0.22, 0.3, 0.22, 0.12, 0.06)
ONE_SIZE_CATEGORIES = ("bags", "accessories")
CONDITIONS = ("new_with_tags", "very_good", "good", "satisfactory")
CONDITION_WEIGHTS = (0.15, 0.45, 0.3, 0.1)
CONDITION_LOG_PRICE = (0.25, 0.0, -0.2, -0.45)
FIT_NEXT_SIZE = 0.3  # fit of a size one step off; two or more steps off fit 0


def epoch_seconds(day) -> int:
    return int(datetime.combine(day, time(), tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Users:
    user_id: np.ndarray
    signup_s: np.ndarray
    country: np.ndarray  # index into config.countries
    size_class: np.ndarray
    log_price: np.ndarray
    taste: np.ndarray  # (n, taste_dims)


@dataclass(frozen=True)
class Listings:
    item_id: np.ndarray
    seller_id: np.ndarray
    category: np.ndarray
    brand: np.ndarray
    size_label: np.ndarray  # index into SIZE_LABELS
    size_class: np.ndarray  # 0..5, or -1 for one size
    price: np.ndarray
    condition: np.ndarray
    listed_s: np.ndarray
    delist_s: np.ndarray  # when the seller removes it if unsold (may lie beyond the window)
    country: np.ndarray
    style: np.ndarray  # (n, taste_dims)


class World:
    """Everything about users and listings that does not depend on behaviour, for one config."""

    def __init__(self, config: GenerateConfig):
        self.cfg = config
        self.draws = Draws(config.seed)
        self.window_end = epoch_seconds(config.end_date)
        self.window_start = self.window_end - config.days * DAY_SECONDS
        # sellers signed up between the marketplace's opening (the bronze contract's first day) and the window
        self.platform_start = epoch_seconds(PLATFORM_START)
        if self.platform_start >= self.window_start:
            raise ValueError(f"generate: the window must start after the platform opened ({PLATFORM_START})")
        self.n_old_users = max(1, round(config.users * (1 - config.people.new_user_share)))
        self.seller_order = Permutation(self.n_old_users, config.seed)
        self.activity_order = Permutation(config.users, config.seed * 7 + 1)
        self.listing_order = Permutation(config.items, config.seed * 13 + 5)
        self.listing_slot = (self.window_end - 3600 - self.window_start) / config.items
        d = config.people.taste_dims
        self.category_style = self._unit_rows("category_style", len(CATEGORIES), d)
        self.brand_style = self._unit_rows("brand_style", len(BRANDS), d)
        # Brands lean to a few categories, so a category says something about the brand and vice versa.
        self.brand_weights = (1.0 / np.arange(1, len(BRANDS) + 1)) ** 0.8

    def _unit_rows(self, salt: str, n: int, d: int) -> np.ndarray:
        rows = np.arange(n)[:, None]
        v = self.draws.normal(salt, rows, np.arange(d)[None, :])
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    # ---- users ---------------------------------------------------------------------------------------------
    def users(self, user_id: np.ndarray) -> Users:
        cfg, draws = self.cfg, self.draws
        user_id = np.asarray(user_id, dtype=np.int64)
        u = draws.uniform("signup", user_id)
        old = user_id < self.n_old_users
        new_rank = user_id - self.n_old_users
        n_new = max(cfg.users - self.n_old_users, 1)
        joined_in_window = self.window_start + (new_rank + u) / n_new * (
            self.window_end - self.window_start - DAY_SECONDS
        )
        signup = np.where(old, self.platform_start + u * (self.window_start - self.platform_start), joined_in_window)
        d = cfg.people.taste_dims
        taste = draws.normal("taste", user_id[:, None], np.arange(d)[None, :]) / np.sqrt(d)
        country_weights = (1.0 / np.arange(1, len(cfg.countries) + 1)) ** 1.1
        mean_log_price = float(np.mean(CATEGORY_LOG_PRICE))
        return Users(
            user_id=user_id,
            signup_s=signup.astype(np.int64),
            country=draws.choice("country", user_id, country_weights),
            size_class=draws.choice("size", user_id, SIZE_CLASS_WEIGHTS),
            log_price=mean_log_price + cfg.people.price_spread * draws.normal("price_level", user_id),
            taste=taste.astype(np.float32),
        )

    def session_user(self, session_id: np.ndarray) -> np.ndarray:
        """Who a session belongs to: a long-tailed share of sessions per user, unrelated to user_id."""
        u = self.draws.uniform("session_user", session_id)
        return self.activity_order.forward(np.floor(self.cfg.users * u**self.cfg.people.activity_skew).astype(np.int64))

    def session_start(self, session_id: np.ndarray) -> np.ndarray:
        """When a session starts (unix seconds, float): uniform over the window."""
        return self.window_start + self.draws.uniform("session_start", session_id) * (
            self.window_end - self.window_start
        )

    # ---- listings ------------------------------------------------------------------------------------------
    def listed_seconds(self, item_id: np.ndarray) -> np.ndarray:
        """Listing times, stratified: item ids are spread evenly over the window by a permutation."""
        order = self.listing_order.forward(item_id)
        return (self.window_start + (order + self.draws.uniform("listed", item_id)) * self.listing_slot).astype(
            np.int64
        )

    def items_listed_around(self, seconds: np.ndarray) -> np.ndarray:
        """The item whose listing slot holds ``seconds`` (-1 outside the window): age -> listing, no search."""
        order = np.floor((seconds - self.window_start) / self.listing_slot).astype(np.int64)
        inside = (order >= 0) & (order < self.cfg.items)
        return np.where(inside, self.listing_order.inverse(np.clip(order, 0, self.cfg.items - 1)), -1)

    def listings(self, item_id: np.ndarray) -> Listings:
        cfg, draws = self.cfg, self.draws
        item_id = np.asarray(item_id, dtype=np.int64)
        seller_rank = np.floor(self.n_old_users * draws.uniform("seller", item_id) ** cfg.people.power_seller_skew)
        seller = self.seller_order.forward(seller_rank.astype(np.int64))
        category = draws.choice("category", item_id, CATEGORY_WEIGHTS)
        brand = draws.choice("brand", item_id, self.brand_weights)
        size_class = draws.choice("size", item_id, SIZE_CLASS_WEIGHTS)
        shoe = np.asarray(CATEGORIES)[category] == "shoes"
        one_size = np.isin(np.asarray(CATEGORIES)[category], ONE_SIZE_CATEGORIES)
        shoe_index = np.minimum(draws.choice("shoe", item_id, np.ones(len(SHOE_SIZES))), len(SHOE_SIZES) - 1)
        size_label = np.where(
            one_size, len(SIZE_LABELS) - 1, np.where(shoe, len(LETTER_SIZES) + shoe_index, size_class)
        )
        size_class = np.where(one_size, -1, np.where(shoe, np.asarray(SHOE_CLASS)[shoe_index], size_class))
        condition = draws.choice("condition", item_id, CONDITION_WEIGHTS)
        log_price = (
            np.asarray(CATEGORY_LOG_PRICE)[category]
            + np.asarray(BRAND_LOG_PRICE)[brand]
            + np.asarray(CONDITION_LOG_PRICE)[condition]
            + 0.35 * draws.normal("price", item_id)
        )
        listed = self.listed_seconds(item_id)
        d = cfg.people.taste_dims
        share = cfg.listings.style_from_attributes
        attributes = (self.category_style[category] + self.brand_style[brand]) / np.sqrt(2.0)
        photo = draws.normal("photo", item_id[:, None], np.arange(d)[None, :]) / np.sqrt(d)
        style = np.sqrt(share) * attributes + np.sqrt(1.0 - share) * photo
        delist = listed + draws.exponential("delist", item_id, cfg.listings.delist_mean_days * DAY_SECONDS)
        return Listings(
            item_id=item_id,
            seller_id=seller,
            category=category,
            brand=brand,
            size_label=size_label,
            size_class=size_class,
            price=np.round(np.exp(log_price), 2) + 1.0,
            condition=condition,
            listed_s=listed,
            delist_s=delist.astype(np.int64),
            country=self.users(seller).country,
            style=style.astype(np.float32),
        )

    @cached_property
    def catalog(self) -> Listings:
        """Every listing of the window (cached: sessions look listings up by id)."""
        return self.listings(np.arange(self.cfg.items, dtype=np.int64))

    @cached_property
    def catalog_vectors(self) -> np.ndarray:
        return self.item_vectors(self.catalog)

    # ---- utility -------------------------------------------------------------------------------------------
    @property
    def vector_dims(self) -> int:
        return self.cfg.people.taste_dims + SIZE_CLASSES + 1 + 3 + len(self.cfg.countries) + 1

    def user_vectors(self, users: Users) -> np.ndarray:
        """Augmented user vectors: ``user_vectors @ item_vectors.T`` is the true utility."""
        w = self.cfg.utility
        n = len(users.user_id)
        fit = np.zeros((n, SIZE_CLASSES), dtype=np.float64)
        steps = np.abs(np.arange(SIZE_CLASSES)[None, :] - users.size_class[:, None])
        fit[steps == 0] = 1.0
        fit[steps == 1] = FIT_NEXT_SIZE
        b = users.log_price
        country = np.zeros((n, len(self.cfg.countries)))
        country[np.arange(n), users.country] = w.country_weight
        return np.hstack(
            [
                w.taste_weight * users.taste,
                w.size_weight * fit,
                np.full((n, 1), w.size_weight),  # one-size listings fit everyone
                np.column_stack([-w.price_weight * np.ones(n), 2 * w.price_weight * b, -w.price_weight * b * b]),
                country,
                np.full((n, 1), -w.size_weight),  # so a perfect fit adds 0 and a miss subtracts size_weight
            ]
        ).astype(np.float32)

    def item_vectors(self, listings: Listings) -> np.ndarray:
        n = len(listings.item_id)
        size = np.zeros((n, SIZE_CLASSES + 1))
        size[np.arange(n), np.where(listings.size_class < 0, SIZE_CLASSES, listings.size_class)] = 1.0
        a = np.log(listings.price)
        country = np.zeros((n, len(self.cfg.countries)))
        country[np.arange(n), listings.country] = 1.0
        return np.hstack(
            [listings.style, size, np.column_stack([a * a, a, np.ones(n)]), country, np.ones((n, 1))]
        ).astype(np.float32)
