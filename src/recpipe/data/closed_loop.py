"""The marketplace run forward day by day with the pipeline in the loop: what the reader serves changes what buyers
see and buy.

Each day's sessions are the generator's own (same ids, times, users and random draws); a configured share of the
feed sessions opens the user's For You list instead of the organic feed: the session shows the list's first
``shown`` listings (logged as impressions, the contract's rows) and each view picks among them by true utility,
with attention falling with the position (``position_decay * ln(1 + position)`` off the pick score). Search and
the other feed sessions browse as in the generator. A listing sells at its first purchase and is hidden from the
next day on (and from the reader, through the unavailable set, when ``serve`` reads Redis).

Every random number is keyed by session and view ids, so two runs of the same days that serve different lists
differ only through what was served (common random numbers): the true effect of serving B instead of A is the
difference between a run with everyone on A and one with everyone on B.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd

from recpipe.data.behaviour import EVENT_TYPES, NEVER, SURFACES, Events, SaleState, SessionSimulator
from recpipe.data.world import DAY_SECONDS, World, epoch_seconds
from recpipe.schemas import IMPRESSIONS
from recpipe.strict import StrictModel

FOR_YOU = SURFACES.index("for_you")
IMPRESSION_STRIDE = 1024  # impression_id = session_id * IMPRESSION_STRIDE + position


class ServedSessionsConfig(StrictModel):
    """How much of the traffic reads the pipeline's lists, and how attention falls along a list."""

    served_share: float = 0.4
    shown: int = 20
    position_decay: float = 1.0


@dataclass(frozen=True)
class ServedList:
    """What one user was served: items best first, the source of each (a team under interleaving), the variant
    and the versions the reader followed."""

    item_ids: np.ndarray
    sources: list[str]
    variant: str | None = None
    experiment: str | None = None
    served_version: str | None = None
    model_version: str | None = None


Serve = Callable[[np.ndarray, date], dict[int, ServedList]]  # users, day -> their lists


class _ServedSimulator(SessionSimulator):
    """The generator's sessions, where served sessions choose among their user's list."""

    def __init__(self, world: World, sales: SaleState, lists: np.ndarray, served: np.ndarray, decay: float):
        super().__init__(world, sales)
        self.lists = lists  # (users, shown) item ids, -1 padded
        self.served = served  # session ids that read the list (sorted)
        self.decay = decay

    def _shown(self, view_id, ts, search, session_id, position):
        organic, _ = super()._shown(view_id, ts, search, session_id, position)
        width = max(organic.shape[1], self.lists.shape[1])
        candidates = np.full((len(view_id), width), -1, dtype=np.int64)
        candidates[:, : organic.shape[1]] = organic
        bias = np.zeros(candidates.shape)
        rows = np.flatnonzero(np.isin(session_id, self.served))
        if len(rows):
            users = self.world.session_user(session_id[rows])
            candidates[rows] = -1
            candidates[rows, : self.lists.shape[1]] = self.lists[users]
            bias[rows, : self.lists.shape[1]] = -self.decay * np.log1p(np.arange(self.lists.shape[1]))
        return candidates, bias


@dataclass
class LoopResult:
    """The simulated days' events, impressions and sales."""

    events: Events
    impressions: pd.DataFrame
    sold_s: np.ndarray  # per listing: when it sold (NEVER: unsold)
    served_sessions: int = 0
    days: list[date] = field(default_factory=list)


def day_bounds(day: date) -> tuple[int, int]:
    start = epoch_seconds(day)
    return start, start + DAY_SECONDS


def served_sessions(world: World, session_ids: np.ndarray, share: float) -> np.ndarray:
    """The feed sessions that open the For You list (a draw per session: the same in every run)."""
    draws, att = world.draws, world.cfg.attention
    search = draws.uniform("search", session_ids) < att.search_share
    return session_ids[~search & (draws.uniform("served", session_ids) < share)]


def _first_sales(events: Events, sold_s: np.ndarray) -> tuple[Events, np.ndarray]:
    """Keep each listing's first purchase (listings sold earlier: none) and record when it sold."""
    is_purchase = events.event_type == EVENT_TYPES.index("purchase")
    order = np.lexsort((events.event_id, events.ts_s))
    purchases = order[is_purchase[order]]
    items = events.item_id[purchases]
    _, first = np.unique(items, return_index=True)
    first_rows = purchases[first]
    selling = first_rows[sold_s[events.item_id[first_rows]] == NEVER]
    keep = ~is_purchase
    keep[selling] = True
    sold = sold_s.copy()
    sold[events.item_id[selling]] = events.ts_s[selling]
    return events.take(keep), sold


def _impressions(session_ids, world: World, lists: dict[int, ServedList], shown: int) -> pd.DataFrame:
    rows = []
    starts = world.session_start(session_ids).astype(np.int64)
    for session, start, user in zip(session_ids.tolist(), starts.tolist(), world.session_user(session_ids).tolist()):
        served = lists.get(user)
        if served is None:
            continue
        for position, item in enumerate(served.item_ids[:shown].tolist()):
            rows.append(
                (session * IMPRESSION_STRIDE + position, user, item, position, "for_you", served.sources[position],
                 served.served_version, served.model_version, served.experiment, served.variant, start)
            )  # fmt: skip
    frame = pd.DataFrame(rows, columns=[f.name for f in IMPRESSIONS.fields])  # the bronze contract's columns
    frame["impression_ts"] = pd.to_datetime(frame["impression_ts"], unit="s", utc=True)
    return frame


def simulate_days(
    world: World,
    n_sessions: int,
    first_day: date,
    days: int,
    serve: Serve,
    config: ServedSessionsConfig,
    sold_s: np.ndarray,
    on_day: Callable[[date, Events, np.ndarray], None] | None = None,
) -> LoopResult:
    """Run ``days`` days from ``first_day``: each day, ``serve`` the users of that day's served sessions, simulate
    the sessions, sell listings at their first purchase. ``sold_s``: when each listing sold before (NEVER: live).
    ``on_day(day, events, newly_sold_items)`` runs after each day (to land events, mark sales unavailable)."""
    all_sessions = np.arange(n_sessions, dtype=np.int64)
    starts = world.session_start(all_sessions)
    parts, impressions, total_served, simulated = [], [], 0, []
    sold = sold_s.copy()
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        low, high = day_bounds(day)
        todays = all_sessions[(starts >= low) & (starts < high)]
        served = served_sessions(world, todays, config.served_share)
        users = np.unique(world.session_user(served))
        lists = serve(users, day)
        matrix = np.full((world.cfg.users, config.shown), -1, dtype=np.int64)
        for user, served_list in lists.items():
            ids = served_list.item_ids[: config.shown]
            matrix[user, : len(ids)] = ids
        with_list = served[np.isin(world.session_user(served), list(lists))]
        simulator = _ServedSimulator(world, SaleState(sold.copy()), matrix, np.sort(with_list), config.position_decay)
        events = simulator.events(todays)
        served_rows = np.isin(events.session_id, with_list)
        events = replace(events, surface=np.where(served_rows, FOR_YOU, events.surface))
        events, new_sold = _first_sales(events, sold)
        newly = np.flatnonzero((new_sold != NEVER) & (sold == NEVER))
        sold = new_sold
        parts.append(events)
        impressions.append(_impressions(with_list, world, lists, config.shown))
        total_served += len(with_list)
        simulated.append(day)
        if on_day is not None:
            on_day(day, events, newly)
    frame = (
        pd.concat(impressions, ignore_index=True) if impressions else _impressions(np.zeros(0, np.int64), world, {}, 0)
    )
    return LoopResult(Events.concat(parts), frame, sold, total_served, simulated)


def events_frame(events: Events, world: World) -> pd.DataFrame:
    """Events in the bronze contract's columns (``event_ts`` a UTC timestamp)."""
    return pd.DataFrame(
        {
            "event_id": events.event_id,
            "user_id": events.user_id,
            "item_id": events.item_id,
            "event_type": np.asarray(EVENT_TYPES)[events.event_type],
            "event_ts": pd.to_datetime(events.ts_s, unit="s", utc=True),
            "session_id": events.session_id,
            "surface": np.asarray(SURFACES)[events.surface],
        }
    )
