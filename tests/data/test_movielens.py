"""MovieLens files -> bronze frames: both layouts, the holdout split, and clear errors on malformed files."""

import pandas as pd
import pytest

from recpipe.data.movielens import RatingsFileError, movielens

U_ITEM = [
    "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0",
    "2|GoldenEye (1995)|01-Jan-1995||http://x|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0",
    "3|Casablanca (1942)|01-Jan-1942||http://x|0|0|0|0|0|0|0|0|1|0|0|0|0|0|1|0|0|1|0",
]


def write_100k(folder, ratings):
    (folder / "u.data").write_text("\n".join("\t".join(map(str, r)) for r in ratings) + "\n")
    (folder / "u.item").write_text("\n".join(U_ITEM) + "\n", encoding="latin-1")
    return folder


def test_100k_layout_becomes_users_items_and_like_events(tmp_path):
    data = movielens(write_100k(tmp_path, [(7, 1, 5, 1000), (7, 2, 3, 2000), (8, 2, 4, 1500), (8, 3, 1, 3000)]))
    assert data.holdout is None
    assert data.events[["event_id", "user_id", "item_id", "event_type"]].values.tolist() == [
        [0, 7, 1, "like"],
        [1, 8, 2, "like"],
        [2, 7, 2, "like"],
        [3, 8, 3, "like"],
    ]  # in time order
    items = data.items.set_index("item_id")
    assert items.loc[1, "category"] == "Animation" and items.loc[2, "category"] == "Action"
    assert items["brand"].tolist() == ["1990s", "1990s", "1940s"]
    assert items.loc[2, "listed_at"] == pd.Timestamp(1500, unit="s")  # listed at its first rating
    assert (items["seller_id"] == -items.index).all() and (items["status"] == "active").all()
    assert data.users.set_index("user_id").loc[8, "signup_ts"] == pd.Timestamp(1500, unit="s")


def test_latest_layout_and_a_rating_mapping(tmp_path):
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,10,4.5,100\n1,11,2.0,200\n")
    (tmp_path / "movies.csv").write_text(
        'movieId,title,genres\n10,"Heat (1995)",Action|Crime\n11,Untitled,(no genres listed)\n'
    )
    data = movielens(tmp_path, rating_events={4.5: "purchase"})
    assert data.events["event_type"].tolist() == ["purchase", "like"]
    assert data.items.set_index("item_id")[["category", "brand"]].values.tolist() == [
        ["Action", "1990s"],
        ["unknown", "unknown"],
    ]


def test_holdout_keeps_a_quarter_of_each_users_ratings_out(tmp_path):
    rows = [(u, i, 4, 1000 * u + i) for u in (1, 2) for i in (1, 2, 3, 4)]
    data = movielens(write_100k(tmp_path, rows), holdout_share=0.25, seed=42)
    per_user = (
        pd.concat([data.events.assign(part="train"), data.holdout.assign(part="test")])
        .groupby(["user_id", "part"])
        .size()
    )
    assert per_user.to_dict() == {(1, "test"): 1, (1, "train"): 3, (2, "test"): 1, (2, "train"): 3}  # round(0.75 * 4)
    assert set(data.holdout.columns) == {"user_id", "item_id", "rating", "event_ts"}
    assert movielens(tmp_path, holdout_share=0.25, seed=42).holdout.equals(data.holdout)  # seeded


@pytest.mark.parametrize(
    ("line", "column", "shown"),
    [
        ("5\t1\tfive\t1000", "rating", "'five'"),
        ("5\t1.5\t3\t1000", "item_id", "'1.5'"),
        ("5\t1\t3", "timestamp", "''"),
    ],
)
def test_a_malformed_ratings_file_names_file_line_and_column(tmp_path, line, column, shown):
    folder = write_100k(tmp_path, [(7, 1, 5, 1000), (7, 2, 3, 2000)])
    (folder / "u.data").write_text((folder / "u.data").read_text() + line + "\n")
    with pytest.raises(RatingsFileError, match=rf"u\.data: line 3: column {column} must be .*got {shown}"):
        movielens(folder)


def test_a_folder_without_ratings_is_a_clear_error(tmp_path):
    with pytest.raises(RatingsFileError, match="neither u.data .* nor ratings.csv"):
        movielens(tmp_path)
