"""Near-real-time availability in Redis: the stream's micro-batches into the unavailable set, exactly once.

Each micro-batch adds its sold and deleted item ids to ``recpipe:unavailable`` (what readers filter with) and to
``recpipe:unavailable:log`` (scored by when the item was sold, so the next publish keeps what the stream learnt
after the lists were built), and records the batch id in ``recpipe:availability:progress``, all in one
transaction guarded by the recorded batch id. Spark replays the last micro-batch after a crash between the Redis
write and its checkpoint commit; the guard makes that replay a no-op, so a restart neither loses nor repeats work.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import redis

from recpipe.serving import keys


@dataclass(frozen=True)
class Applied:
    batch_id: int
    items: int
    applied: bool  # False: this batch id was applied before (a replay); nothing was written


def _field(source: str, name: str) -> str:
    return f"{source}:{name}"


def last_batch(client: redis.Redis, source: str) -> int | None:
    value = cast(bytes | None, client.hget(keys.AVAILABILITY_PROGRESS_KEY, _field(source, "batch")))
    return int(value) if value is not None else None


def items_applied(client: redis.Redis, source: str) -> int:
    return int(cast(bytes | None, client.hget(keys.AVAILABILITY_PROGRESS_KEY, _field(source, "items"))) or 0)


def apply_batch(
    client: redis.Redis, source: str, batch_id: int, item_ids: Sequence[int], sold_at: Sequence[float | None]
) -> Applied:
    """Add a micro-batch's unavailable items, unless batch ``batch_id`` of ``source`` was applied already.

    ``sold_at``: unix seconds per item (None: unknown, taken as now)."""
    now = time.time()
    with client.pipeline(transaction=True) as tx:
        tx.watch(keys.AVAILABILITY_PROGRESS_KEY)  # a concurrent writer of the same source aborts this transaction
        done = tx.hget(keys.AVAILABILITY_PROGRESS_KEY, _field(source, "batch"))
        if done is not None and int(cast(bytes, done)) >= batch_id:
            return Applied(batch_id, len(item_ids), applied=False)
        tx.multi()
        for start in range(0, len(item_ids), 10_000):
            chunk = list(item_ids[start : start + 10_000])
            times = list(sold_at[start : start + 10_000])
            tx.sadd(keys.UNAVAILABLE_KEY, *chunk)
            tx.zadd(keys.UNAVAILABLE_LOG_KEY, {str(i): (t if t is not None else now) for i, t in zip(chunk, times)})
        tx.hset(
            keys.AVAILABILITY_PROGRESS_KEY,
            mapping={_field(source, "batch"): batch_id, _field(source, "applied_at"): now},
        )
        tx.hincrby(keys.AVAILABILITY_PROGRESS_KEY, _field(source, "items"), len(item_ids))
        tx.execute()
    return Applied(batch_id, len(item_ids), applied=True)


# Atomic within the publish switch: the new unavailable set is the published lists' sold items plus every item the
# stream logged as sold since the lists were built; older log entries are dropped (the lists already left them out).
# KEYS: staging set, log, unavailable set; ARGV: the lists' build time (unix seconds).
MERGE_LOG_SCRIPT = """
local recent = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], '+inf')
for i = 1, #recent, 5000 do
  redis.call('SADD', KEYS[1], unpack(recent, i, math.min(i + 4999, #recent)))
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[3])
else
  redis.call('DEL', KEYS[3])
end
return #recent
"""
