"""Re-ranking one list for exposure and diversity: a greedy pass (maximal marginal relevance) that trades an item's
relevance against its similarity to what is already above it, discounts a seller's further items and keeps a floor
of new sellers' listings. The one rule behind the batch lists and the fresh overlays (``transforms.reranking``).

With every knob at zero the pass returns the relevance order unchanged."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Knobs:
    """``diversity``: MMR's weight of similarity against relevance (0: relevance only, 1: similarity only);
    ``seller_discount``: subtracted from a listing's value per listing of its seller already placed;
    ``new_seller_share``: every prefix of the list holds at least this share of new sellers' listings while any
    are left."""

    diversity: float = 0.0
    seller_discount: float = 0.0
    new_seller_share: float = 0.0

    @property
    def active(self) -> bool:
        return self.diversity > 0 or self.seller_discount > 0 or self.new_seller_share > 0


def style_similarity(categories: np.ndarray, brands: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Pairwise similarity in [0, 1]: the mean of same category, same brand and the cosine of the listing vectors
    (clipped at 0; 0 where a listing has no vector). ``vectors`` rows are unit length or zero."""
    same_category = categories[:, None] == categories[None, :]
    same_brand = brands[:, None] == brands[None, :]
    cosine = np.clip(vectors @ vectors.T, 0.0, 1.0)
    return (same_category.astype(np.float64) + same_brand + cosine) / 3.0


def scaled(relevance: np.ndarray) -> np.ndarray:
    """Relevance mapped to [0, 1] within the list (MMR's two terms on one scale); equal scores map to 1."""
    low, high = float(relevance.min()), float(relevance.max())
    if high - low <= 0:
        return np.ones_like(relevance, dtype=np.float64)
    return (relevance - low) / (high - low)


def rerank(
    relevance: np.ndarray,
    similarity: np.ndarray,
    sellers: np.ndarray,
    new_seller: np.ndarray,
    length: int,
    knobs: Knobs,
) -> np.ndarray:
    """Positions (into the candidate arrays, sorted best first) of the re-ranked list of at most ``length``.

    Each step takes the candidate of highest ``(1 - diversity) * relevance - diversity * max similarity to those
    placed - seller_discount * listings of its seller placed``; ties go to the earlier candidate. When the new
    sellers' share of the prefix would fall under ``new_seller_share``, the step chooses among new sellers only."""
    n = len(relevance)
    length = min(length, n)
    if not knobs.active:
        return np.arange(length)
    relevance = scaled(np.asarray(relevance, dtype=np.float64))
    _, seller_codes = np.unique(sellers, return_inverse=True)
    placed_per_seller = np.zeros(seller_codes.max() + 1 if n else 0)
    nearest = np.zeros(n)  # max similarity to the placed items
    free = np.ones(n, dtype=bool)
    chosen = np.empty(length, dtype=np.int64)
    placed_new = 0
    for step in range(length):
        value = (1 - knobs.diversity) * relevance - knobs.diversity * nearest
        value = value - knobs.seller_discount * placed_per_seller[seller_codes]
        allowed = free
        if placed_new < np.floor(knobs.new_seller_share * (step + 1) + 1e-9) and (free & new_seller).any():
            allowed = free & new_seller
        pick = int(np.argmax(np.where(allowed, value, -np.inf)))
        chosen[step] = pick
        free[pick] = False
        nearest = np.maximum(nearest, similarity[pick])
        placed_per_seller[seller_codes[pick]] += 1
        placed_new += int(new_seller[pick])
    return chosen


def monotone_scores(scores: np.ndarray) -> np.ndarray:
    """Scores in the re-ranked order, each capped by the one above it: the list stays sorted by score (what the
    reader's merge with overlays relies on) and keeps the ranker's scale."""
    return np.minimum.accumulate(np.asarray(scores, dtype=np.float64)) if len(scores) else np.asarray(scores)
