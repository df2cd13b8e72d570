"""Listing attributes as a sparse feature matrix: what lets a model score a listing that has no history.

A listing is described by categorical fields (category, brand, size, condition, seller country), a price band
and crosses where one field's meaning depends on another (a size means something else
for shoes than for coats; a price band is cheap or dear only within a category). Each field contributes one
non-zero of weight ``1 / sqrt(fields)``, so a listing with every field known has a unit-norm row (a missing or
unseen value adds nothing).

The vocabulary is fitted once per training run (``FeatureEncoder.fit``) and logged with the registered model
(``listing_features.json``), so the vectors of listings created after training can be computed from the same
columns by the same code (values never seen map to nothing).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

PRICE_BAND_EDGES = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 70.0, 100.0, 150.0)  # in the listing's currency
# The listing's age is not a feature: its age at training is not its age when it was bought (models.freshness)
LISTING_FIELDS = (
    "category",
    "brand",
    "size",
    "condition",
    "country",
    "price_band",
    "category_size",
    "category_price_band",
    "brand_price_band",
)


def _bands(values: pd.Series, edges: Sequence[float]) -> pd.Series:
    """Band number of each value (``len(edges)`` bands plus one above); missing values stay missing."""
    out = pd.Series(np.searchsorted(np.asarray(edges), values.to_numpy(np.float64), side="right"), index=values.index)
    return out.astype("string").where(values.notna())


def listing_attributes(items: pd.DataFrame) -> pd.DataFrame:
    """The fields of ``LISTING_FIELDS`` as strings, one row per listing.

    ``items`` has ``category``, ``brand``, ``size``, ``condition``, ``price`` and, when known, ``country`` (the
    seller's)."""
    out = pd.DataFrame(index=items.index)
    for name in ("category", "brand", "size", "condition", "country"):
        out[name] = (
            items[name].astype("string") if name in items else pd.Series(pd.NA, index=items.index, dtype="string")
        )
    out["price_band"] = _bands(items["price"], PRICE_BAND_EDGES)
    out["category_size"] = out["category"] + "|" + out["size"]
    out["category_price_band"] = out["category"] + "|" + out["price_band"]
    out["brand_price_band"] = out["brand"] + "|" + out["price_band"]
    return out[list(LISTING_FIELDS)]


def _tokens(column: pd.Series) -> pd.Series:
    """One row per (position, value): a list-valued field (a film's genres) gives several."""
    return column.explode().dropna().astype(str)


@dataclass
class FeatureEncoder:
    """Field values -> columns of a sparse matrix; a value needs ``min_count`` rows at fit time to get a column.
    A field may hold lists (several values per row); its weight is then shared by the row's values."""

    fields: tuple[str, ...]
    min_count: int = 1
    vocabulary: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return sum(len(v) for v in self.vocabulary.values())

    def fit(self, frame: pd.DataFrame) -> FeatureEncoder:
        offset, self.vocabulary = 0, {}
        for name in self.fields:
            counts = _tokens(frame[name]).value_counts()
            values = sorted(counts.index[counts >= self.min_count])
            self.vocabulary[name] = {value: offset + i for i, value in enumerate(values)}
            offset += len(values)
        return self

    def transform(self, frame: pd.DataFrame) -> sp.csr_matrix:
        """(rows, n_features) float32, each known field value one entry of weight 1 / sqrt(len(fields))."""
        rows, cols, weights = [], [], []
        field_weight = 1.0 / np.sqrt(len(self.fields))
        for name in self.fields:
            tokens = _tokens(frame[name].reset_index(drop=True))
            codes = tokens.map(self.vocabulary[name])
            known = codes.notna().to_numpy()
            row = tokens.index.to_numpy(np.int64)[known]
            per_row = np.bincount(row, minlength=len(frame))
            rows.append(row)
            cols.append(codes.to_numpy()[known].astype(np.int64))
            weights.append(field_weight / np.sqrt(per_row[row]))
        row, col = np.concatenate(rows), np.concatenate(cols)
        weight = np.concatenate(weights).astype(np.float32)
        return sp.csr_matrix((weight, (row, col)), shape=(len(frame), self.n_features), dtype=np.float32)

    def save(self, path: Path) -> None:
        path.write_text(
            json.dumps({"fields": list(self.fields), "min_count": self.min_count, "vocabulary": self.vocabulary})
        )

    @classmethod
    def load(cls, path: Path) -> FeatureEncoder:
        raw = json.loads(path.read_text())
        return cls(tuple(raw["fields"]), raw["min_count"], raw["vocabulary"])


def listing_features(
    items: pd.DataFrame, encoder: FeatureEncoder | None = None, min_count: int = 2
) -> tuple[sp.csr_matrix, FeatureEncoder]:
    """Feature matrix of ``items`` and its encoder (fitted here when not given)."""
    attributes = listing_attributes(items)
    encoder = encoder or FeatureEncoder(LISTING_FIELDS, min_count).fit(attributes)
    return encoder.transform(attributes), encoder
