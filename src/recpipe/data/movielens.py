"""MovieLens ratings as bronze tables (pandas), so the whole pipeline can run on public data.

Two layouts: MovieLens 100k (``u.data`` tab-separated ``user item rating timestamp``, ``u.item`` pipe-separated
with 19 genre flags) and the ml-latest family (``ratings.csv`` ``userId,movieId,rating,timestamp``, ``movies.csv``
``movieId,title,genres``). A rating becomes an event (``like`` unless ``rating_events`` maps ratings to other event
types), keeping its timestamp. A film becomes an item: its first genre is the category, its release decade the
brand; it is its own seller (``seller_id = -item_id``, no user), so seller rules never bind; it is listed at its
first rating and never sells. A user signs up at their first rating.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recpipe.errors import RecpipeError
from recpipe.models.evaluation import stratified_split

GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
RATING_COLUMNS = ("user_id", "item_id", "rating", "timestamp")


class RatingsFileError(RecpipeError, ValueError):
    """A ratings file is malformed; the message names the file, the line and the column."""


@dataclass(frozen=True)
class RatingsData:
    users: pd.DataFrame
    items: pd.DataFrame
    events: pd.DataFrame
    holdout: pd.DataFrame | None  # user_id, item_id, rating, event_ts: the test part of a split, kept out of bronze


def _layout(folder: Path) -> tuple[Path, dict, Path]:
    if (folder / "u.data").exists():
        return folder / "u.data", {"sep": "\t", "header": None}, folder / "u.item"
    if (folder / "ratings.csv").exists():
        return folder / "ratings.csv", {"sep": ",", "header": 0}, folder / "movies.csv"
    raise RatingsFileError(f"{folder}: neither u.data (MovieLens 100k) nor ratings.csv (ml-latest) found")


def read_ratings(path: Path, read_options: dict) -> pd.DataFrame:
    """``user_id, item_id, rating, timestamp`` with every value checked; a bad value raises naming its line."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False, **read_options)
    if raw.shape[1] != len(RATING_COLUMNS):
        raise RatingsFileError(f"{path}: expected {len(RATING_COLUMNS)} columns {RATING_COLUMNS}, found {raw.shape[1]}")
    raw.columns = list(RATING_COLUMNS)
    header_lines = 1 if read_options.get("header") == 0 else 0
    parsed = {}
    for column in RATING_COLUMNS:
        values = pd.to_numeric(raw[column].str.strip(), errors="coerce")
        integral = column != "rating"
        bad = values.isna() | ((values % 1 != 0) if integral else False) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            kind = "a non-negative integer" if integral else "a non-negative number"
            raise RatingsFileError(
                f"{path}: line {row + 1 + header_lines}: column {column} must be {kind}, got {raw[column].iloc[row]!r}"
            )
        parsed[column] = values.astype(np.int64 if integral else np.float64)
    return pd.DataFrame(parsed)


def _films(path: Path) -> pd.DataFrame:
    """``item_id, category, brand`` from u.item or movies.csv (first genre, release decade)."""
    if not path.exists():
        return pd.DataFrame(columns=["item_id", "category", "brand"])
    if path.name == "u.item":
        films = pd.read_csv(path, sep="|", header=None, encoding="latin-1", dtype=str, keep_default_na=False)
        flags = films.iloc[:, 5 : 5 + len(GENRES_100K)].astype(int).to_numpy()
        first = np.where(flags.any(axis=1), flags.argmax(axis=1), 0)
        titles, category = films[1], np.asarray(GENRES_100K)[first]
    else:
        films = pd.read_csv(path, dtype=str, keep_default_na=False)
        titles, category = (
            films["title"],
            films["genres"].str.split("|").str[0].replace("(no genres listed)", "unknown"),
        )
        films = films.rename(columns={"movieId": 0})
    year = titles.str.extract(r"\((\d{4})\)\s*$", expand=False)  # a string, or NaN without a year
    decade = year.map(lambda y: f"{int(y) // 10 * 10}s" if isinstance(y, str) else "unknown")
    return pd.DataFrame({"item_id": films[0].astype(np.int64), "category": category, "brand": decade})


def film_features(folder: Path) -> pd.DataFrame:
    """``item_id``, ``genres`` (a list: every genre flag of the film) and ``era`` (release year in five-year bands)
    of the films in a MovieLens folder: the item features of the cold-start benchmark."""
    _, _, path = _layout(folder)
    if path.name == "u.item":
        films = pd.read_csv(path, sep="|", header=None, encoding="latin-1", dtype=str, keep_default_na=False)
        flags = films.iloc[:, 5 : 5 + len(GENRES_100K)].astype(int).to_numpy().astype(bool)
        genres = [list(np.asarray(GENRES_100K)[row]) for row in flags]
        item_id, released = films[0], films[2].str.extract(r"(\d{4})$", expand=False)
    else:
        films = pd.read_csv(path, dtype=str, keep_default_na=False)
        genres = films["genres"].str.split("|").tolist()
        item_id, released = films["movieId"], films["title"].str.extract(r"\((\d{4})\)\s*$", expand=False)
    era = released.map(lambda y: f"{int(y) // 5 * 5}" if isinstance(y, str) else pd.NA)
    return pd.DataFrame({"item_id": item_id.astype(np.int64), "genres": genres, "era": era})


def movielens(
    folder: Path,
    rating_events: Mapping[float, str] | None = None,
    holdout_share: float = 0.0,
    split_by: str = "user",
    seed: int = 42,
    country: str = "US",
) -> RatingsData:
    """Bronze users, items and events of a MovieLens folder; with ``holdout_share``, a stratified split (as
    Microsoft Recommenders' ``python_stratified_split``) keeps that share of each user's (or item's) ratings out."""
    ratings_path, options, films_path = _layout(folder)
    ratings = read_ratings(ratings_path, options)
    ratings["event_ts"] = pd.to_datetime(ratings["timestamp"], unit="s")
    holdout = None
    if holdout_share > 0:
        train, test = stratified_split(ratings, 1.0 - holdout_share, by=f"{split_by}_id", seed=seed)
        ratings, holdout = train, test[["user_id", "item_id", "rating", "event_ts"]].reset_index(drop=True)
    ratings = ratings.sort_values(["event_ts", "user_id", "item_id"], kind="stable").reset_index(drop=True)
    mapping = dict(rating_events or {})
    event_type = ratings["rating"].map(lambda r: mapping.get(r, "like")) if mapping else "like"
    events = pd.DataFrame(
        {
            "event_id": np.arange(len(ratings), dtype=np.int64),
            "user_id": ratings["user_id"],
            "item_id": ratings["item_id"],
            "event_type": event_type,
            "event_ts": ratings["event_ts"],
            "session_id": ratings["user_id"],
            "surface": "search",
        }
    )
    first_user = ratings.groupby("user_id")["event_ts"].min()
    users = pd.DataFrame(
        {"user_id": first_user.index.astype(np.int64), "country": country, "signup_ts": first_user.to_numpy()}
    )
    first_item = ratings.groupby("item_id")["event_ts"].min().rename("listed_at").reset_index()
    items = first_item.merge(_films(films_path), on="item_id", how="left").fillna(
        {"category": "unknown", "brand": "unknown"}
    )
    items = items.assign(
        seller_id=-items["item_id"],
        size="One size",
        price=1.0,
        condition="good",
        sold_at=pd.NaT,
        deleted_at=pd.NaT,
        status="active",
    )[
        [
            "item_id",
            "seller_id",
            "category",
            "brand",
            "size",
            "price",
            "condition",
            "listed_at",
            "sold_at",
            "deleted_at",
            "status",
        ]
    ]
    return RatingsData(users=users, items=items, events=events, holdout=holdout)
