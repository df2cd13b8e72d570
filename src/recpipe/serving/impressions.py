"""The exposure log: what an app writes to ``bronze.impressions`` for each list it shows (docs/redis-contract.md,
"Impressions"). Any backend builds the same rows from the reader's answer; this is the reference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recpipe.serving.reader import Recommendation

FOR_YOU = "for_you"  # the surface of the personal lists (recpipe.schemas.SURFACES)


def impression_rows(
    user_id: int,
    recommendation: Recommendation,
    shown_at: datetime,
    first_impression_id: int,
    shown: int | None = None,
    surface: str = FOR_YOU,
) -> list[dict[str, Any]]:
    """One row per listing shown (the first ``shown`` of the answer), ids ``first_impression_id + position``.
    Under interleaving an item's source is ``team:<variant>``: the credit an engagement on it goes to."""
    count = len(recommendation.item_ids) if shown is None else min(shown, len(recommendation.item_ids))
    teams = recommendation.teams
    return [
        {
            "impression_id": first_impression_id + position,
            "user_id": user_id,
            "item_id": recommendation.item_ids[position],
            "position": position,
            "surface": surface,
            "item_source": f"team:{teams[position]}" if teams else recommendation.sources[position],
            "served_version": recommendation.served_version,
            "model_version": recommendation.model_version,
            "experiment": recommendation.experiment,
            "variant": recommendation.variant,
            "impression_ts": shown_at,
        }
        for position in range(count)
    ]
