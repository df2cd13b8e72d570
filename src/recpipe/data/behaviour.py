"""Sessions of the synthetic marketplace: who views what, and how a view turns into a like, a bag or a purchase.

A session belongs to one user (long-tailed activity) and starts after their signup. Each view is one pick among
``candidates_per_view`` listings that the feed (listing age exponential with mean ``feed_age_days``) or a search
(age uniform) shows, by softmax of true utility; only listings live at that moment can be shown. A view may
lead to a like, a save, an add-to-bag and a purchase with probabilities rising with utility; a saved or bagged
listing may be bought in a later visit. Every purchase follows the buyer's view of the listing.

A listing sells at its first purchase, which depends on everyone's sessions, so the generator runs this in
passes (``SaleState``): the sessions are replayed knowing when listings sold in the previous pass, and the
last pass keeps only the first purchase of each listing and (bar a few old links) nothing after it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recpipe.data.world import DAY_SECONDS, World

MAX_SESSION_VIEWS = 64
EVENT_TYPES = ("view", "like", "save", "add_to_bag", "purchase")
# event_id = session_id * EVENT_ID_STRIDE + pos * SLOTS_PER_VIEW + slot: slots 0-4 are the view and its funnel
# (EVENT_TYPES order), slot 5 a view of a sold listing opened through an old link
SLOTS_PER_VIEW = 6
OLD_LINK_SLOT = 5
EVENT_ID_STRIDE = 512  # > MAX_SESSION_VIEWS * SLOTS_PER_VIEW
FEED_SURFACES = ("home", "for_you", "item_page", "profile")
FEED_SURFACE_WEIGHTS = (0.45, 0.3, 0.2, 0.05)
SURFACES = ("search", *FEED_SURFACES)
NEVER = np.iinfo(np.int64).max
SLOT_OFFSET_S = (0, 3, 4, 6, 12, 15)  # seconds after the view; views are >= 20 s apart
SESSIONS_PER_CHUNK = 2048


@dataclass(frozen=True)
class SaleState:
    """What earlier passes learnt about sales. ``hidden_s``: a listing leaves browsing after this time. The final
    pass also names each listing's selling purchase (``sale_event`` at ``sold_s``) so nothing of it survives
    after the sale.

    The final pass hides a listing at the earlier of its sale times in the last two passes. That only removes
    listings from views, and a Gumbel-max pick whose winner is still shown keeps its winner, so every view and
    purchase of the previous pass before a sale happens again, the selling purchases included.
    """

    hidden_s: np.ndarray
    sold_s: np.ndarray | None = None
    sale_event: np.ndarray | None = None

    @classmethod
    def unsold(cls, n_items: int) -> SaleState:
        return cls(np.full(n_items, NEVER, dtype=np.int64))

    @property
    def final(self) -> bool:
        return self.sale_event is not None


@dataclass(frozen=True)
class Events:
    event_id: np.ndarray
    user_id: np.ndarray
    item_id: np.ndarray
    event_type: np.ndarray  # index into EVENT_TYPES
    ts_s: np.ndarray
    session_id: np.ndarray
    surface: np.ndarray  # index into SURFACES

    @classmethod
    def concat(cls, parts: list[Events]) -> Events:
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty, empty, empty, empty, empty)
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))

    def take(self, mask: np.ndarray) -> Events:
        return Events(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class SessionSimulator:
    """Turns session ids into events for one world and one ``SaleState``."""

    def __init__(self, world: World, sales: SaleState):
        self.world = world
        self.sales = sales
        self.catalog = world.catalog
        self.vectors = world.catalog_vectors

    def events(self, session_ids: np.ndarray, purchases_only: bool = False) -> Events:
        session_ids = np.asarray(session_ids, dtype=np.int64)
        parts = [
            self._chunk(session_ids[start : start + SESSIONS_PER_CHUNK], purchases_only)
            for start in range(0, len(session_ids), SESSIONS_PER_CHUNK)
        ]
        return Events.concat(parts)

    def _sessions(self, session_ids: np.ndarray):
        w, draws, att = self.world, self.world.draws, self.world.cfg.attention
        users = w.users(w.session_user(session_ids))
        start = w.session_start(session_ids)
        keep = start >= users.signup_s
        search = draws.uniform("search", session_ids) < att.search_share
        surface = np.where(search, 0, 1 + draws.choice("surface", session_ids, FEED_SURFACE_WEIGHTS))
        length = 1 + np.floor(draws.exponential("length", session_ids, att.mean_session_views - 1.0))
        return (
            users,
            start.astype(np.int64),
            keep,
            search,
            surface,
            np.minimum(length, MAX_SESSION_VIEWS).astype(np.int64),
        )

    def _chunk(self, session_ids: np.ndarray, purchases_only: bool) -> Events:
        w, draws, att = self.world, self.world.draws, self.world.cfg.attention
        users, start, keep, search, surface, length = self._sessions(session_ids)
        length = np.where(keep, length, 0)
        user_vectors = w.user_vectors(users)
        # one row per view
        session_row = np.repeat(np.arange(len(session_ids)), length)
        pos = np.arange(len(session_row)) - np.repeat(np.cumsum(length) - length, length)
        sid = session_ids[session_row]
        view_id = sid * EVENT_ID_STRIDE + pos * SLOTS_PER_VIEW
        ts = start[session_row] + pos * 60 + np.floor(draws.uniform("gap", view_id) * 40).astype(np.int64)
        user = users.user_id[session_row]

        candidates, bias = self._shown(view_id, ts, search[session_row], session_ids[session_row], pos)
        safe = np.maximum(candidates, 0)
        cat = self.catalog
        live = (
            (candidates >= 0)
            & (cat.listed_s[safe] <= ts[:, None])
            & (ts[:, None] < cat.delist_s[safe])
            & (ts[:, None] < self.sales.hidden_s[safe])
            & (cat.seller_id[safe] != user[:, None])
        )
        utility = np.einsum("vkd,vd->vk", self.vectors[safe], user_vectors[session_row], optimize=False)
        k = np.arange(candidates.shape[1])[None, :]
        pick = att.choice_sharpness * utility + bias + draws.gumbel("pick", view_id[:, None], k)
        pick_score = np.where(live, pick, -np.inf)
        best = np.argmax(pick_score, axis=1)
        viewed = live[np.arange(len(best)), best]
        rows = np.flatnonzero(viewed)
        item = candidates[rows, best[rows]]
        z = utility[rows, best[rows]].astype(np.float64)
        events = self._funnel(
            view_id[rows],
            ts[rows],
            user[rows],
            item,
            z,
            sid=session_ids[session_row[rows]],
            surface=surface[session_row[rows]],
            purchases_only=purchases_only,
        )
        if not self.sales.final or purchases_only:
            return events
        old_links = self._old_link_views(view_id, ts, user, candidates, session_ids[session_row], surface[session_row])
        # a view offset from a session's last minutes must not land past the window (the funnel's events are clipped)
        return Events.concat([events, old_links.take(old_links.ts_s < self.world.window_end)])

    def _shown(
        self, view_id: np.ndarray, ts: np.ndarray, search: np.ndarray, session_id: np.ndarray, position: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | float]:
        """The listings each view chooses among (``candidates_per_view``; -1: none) and a bias added to their pick
        score: the organic feed (listing age exponential) or a search (age uniform), no bias."""
        att, draws = self.world.cfg.attention, self.world.draws
        k = np.arange(att.candidates_per_view)[None, :]
        age_days = np.where(
            search[:, None],
            draws.uniform("search_age", view_id[:, None], k) * att.search_max_age_days,
            draws.exponential("feed_age", view_id[:, None], att.feed_age_days, k),
        )
        return self.world.items_listed_around(ts[:, None] - age_days * DAY_SECONDS), 0.0

    def _old_link_views(self, view_id, ts, user, candidates, sid, surface) -> Events:
        """A few views land on a shown listing that already sold (a saved link, a seller's profile)."""
        safe = np.maximum(candidates, 0)
        sold_before = (
            (candidates >= 0)
            & (self.sales.sold_s[safe] < ts[:, None])
            & (self.catalog.seller_id[safe] != user[:, None])
        )
        opens = sold_before.any(axis=1) & (
            self.world.draws.uniform("old_link", view_id) < self.world.cfg.attention.views_after_sale_share
        )
        rows = np.flatnonzero(opens)
        item = candidates[rows, np.argmax(sold_before[rows], axis=1)]
        view = EVENT_TYPES.index("view")
        return Events(
            view_id[rows] + OLD_LINK_SLOT,
            user[rows],
            item,
            np.full(len(rows), view, dtype=np.int64),
            ts[rows] + SLOT_OFFSET_S[OLD_LINK_SLOT],
            sid[rows],
            surface[rows],
        )

    def _funnel(self, view_id, ts, user, item, z, sid, surface, purchases_only: bool) -> Events:
        f, draws = self.world.cfg.funnel, self.world.draws
        step = lambda name, bias: draws.uniform(name, view_id) < _sigmoid(bias + f.slope * z)
        like, save, bag = step("like", f.like_bias), step("save", f.save_bias), step("bag", f.bag_bias)
        bought_now = (bag & step("buy_after_bag", f.buy_after_bag_bias)) | step("buy_direct", f.buy_direct_bias)
        bought_later = ~bought_now & (save | bag) & step("return_buy", f.return_buy_bias)
        later_s = 60 + draws.exponential("return_delay", view_id, f.return_mean_days * DAY_SECONDS).astype(np.int64)
        purchase_ts = np.where(bought_later, ts + later_s, ts + SLOT_OFFSET_S[4])
        purchase = (bought_now | bought_later) & (purchase_ts < self.catalog.delist_s[item])

        happened = [np.ones_like(like), like, save, bag, purchase]
        slots = [4] if purchases_only else range(len(EVENT_TYPES))
        parts = []
        for slot in slots:
            mask = happened[slot]
            event_ts = purchase_ts[mask] if slot == 4 else ts[mask] + SLOT_OFFSET_S[slot]
            parts.append(
                Events(
                    view_id[mask] + slot,
                    user[mask],
                    item[mask],
                    np.full(mask.sum(), slot, dtype=np.int64),
                    event_ts,
                    sid[mask],
                    surface[mask],
                )
            )
        events = Events.concat(parts)
        events = events.take(events.ts_s < self.world.window_end)
        return self._after_sale(events) if self.sales.final else events

    def _after_sale(self, events: Events) -> Events:
        """Keep each listing's selling purchase and nothing of it after the sale.

        Purchases other than the selling one are dropped: a buyer who comes back to a listing after it sold
        finds it gone (views of it were hidden by ``hidden_s`` already)."""
        sold_s, sale_event = self.sales.sold_s[events.item_id], self.sales.sale_event[events.item_id]
        after = (events.ts_s > sold_s) | ((events.ts_s == sold_s) & (events.event_id > sale_event))
        is_purchase = events.event_type == EVENT_TYPES.index("purchase")
        return events.take(np.where(is_purchase, events.event_id == sale_event, ~after))
