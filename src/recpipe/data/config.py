"""The generator's world model (``recpipe generate``): sizes, time window and the behaviour of its people."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from recpipe.strict import StrictModel


class PeopleConfig(StrictModel):
    """Buyers (and sellers: every seller is a user who signed up before the window)."""

    new_user_share: float = Field(default=0.15, ge=0, lt=1, description="users who sign up during the window")
    activity_skew: float = Field(
        default=2.5, ge=1, description="sessions go to user index floor(n * u**skew): long tail"
    )
    taste_dims: int = Field(default=8, ge=2, description="dimensions of taste and style vectors")
    price_spread: float = Field(default=0.5, gt=0, description="std of users' log price level")
    power_seller_skew: float = Field(default=3.0, ge=1, description="listings go to seller floor(n * u**skew)")


class ListingsConfig(StrictModel):
    """What sellers list, and how long an unsold listing stays up."""

    style_from_attributes: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="share of style variance explained by category and brand (the rest: photos)",
    )
    delist_mean_days: float = Field(
        default=10.0, gt=0, description="mean days until a seller removes an unsold listing"
    )


class AttentionConfig(StrictModel):
    """Sessions of views over live listings; exposure decays with a listing's age."""

    mean_session_views: float = Field(default=8.0, ge=1)
    feed_age_days: float = Field(default=2.0, gt=0, description="mean age of the listings a feed shows (exponential)")
    search_share: float = Field(default=0.3, ge=0, le=1, description="sessions that search: listing age uniform")
    search_max_age_days: float = Field(default=30.0, gt=0)
    candidates_per_view: int = Field(default=12, ge=1, description="listings shown per view; the user picks one")
    choice_sharpness: float = Field(default=1.0, ge=0, description="softmax weight of utility in the pick")
    views_after_sale_share: float = Field(
        default=0.02, ge=0, le=1, description="views of a sold listing that still happen (old links)"
    )


class UtilityConfig(StrictModel):
    """True utility of (user, item): taste . style + size fit + price fit + same country."""

    taste_weight: float = Field(default=4.0, ge=0)
    size_weight: float = Field(default=2.5, ge=0, description="penalty of a size two or more steps off")
    price_weight: float = Field(default=1.0, ge=0, description="penalty per squared log-price distance")
    country_weight: float = Field(default=0.5, ge=0)


class FunnelConfig(StrictModel):
    """Per view, P(step) = sigmoid(bias + slope * utility); every purchase follows the buyer's view."""

    slope: float = Field(default=1.0, ge=0)
    like_bias: float = -3.0
    save_bias: float = -3.5
    bag_bias: float = -4.0
    buy_after_bag_bias: float = -1.5
    buy_direct_bias: float = -7.0
    return_buy_bias: float = Field(default=-3.0, description="a saved or bagged listing bought in a later session")
    return_mean_days: float = Field(default=1.0, gt=0)


class CalibrationRanges(StrictModel):
    """Ranges the generated world's figures must fall in (checked by tests and printed by the benchmark)."""

    purchases_on_listings_under_7d: tuple[float, float] = (0.5, 1.0)
    live_inventory_median_age_days: tuple[float, float] = (0.0, 14.0)
    views_on_sold_items: tuple[float, float] = (0.0, 0.05)
    purchases_in_buyer_size: tuple[float, float] = (0.6, 1.0)
    listings_never_sold: tuple[float, float] = (0.2, 0.9)


class GenerateConfig(StrictModel):
    """Synthetic resale marketplace: sizes, time window, and the behaviour of its people (docs/world.md)."""

    users: int = Field(default=2_000, gt=0)
    items: int = Field(default=3_000, gt=0, description="listings created during the window")
    days: int = Field(default=30, gt=0)
    seed: int = 42
    events_per_user: float = Field(default=40.0, gt=0)
    events: int | None = Field(
        default=None, gt=0, description="total events (approximate); default users * events_per_user"
    )
    end_date: date = date(2026, 11, 1)
    countries: tuple[str, ...] = ("FR", "DE", "GB", "IT", "ES", "NL", "PL", "SE")
    people: PeopleConfig = PeopleConfig()
    listings: ListingsConfig = ListingsConfig()
    attention: AttentionConfig = AttentionConfig()
    utility: UtilityConfig = UtilityConfig()
    funnel: FunnelConfig = FunnelConfig()
    calibration: CalibrationRanges = CalibrationRanges()

    @property
    def target_events(self) -> int:
        return self.events or int(self.users * self.events_per_user)
