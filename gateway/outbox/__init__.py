"""Store-and-forward (``gateway/outbox``): the durable SQLite outbox and its disk budget.

``store`` holds the rows until the cloud acknowledges them; ``budget`` is the pure policy
deciding what gives when the disk budget is reached.
"""

from gateway.outbox.budget import DEFAULT_BUDGET_BYTES, THIN_ORDER
from gateway.outbox.store import (
    COUNTER_NAMES,
    TOPIC_LEAF,
    Batch,
    Counters,
    Kind,
    Outbox,
    OutboxError,
    OutboxStats,
    Row,
)

__all__ = [
    "COUNTER_NAMES",
    "DEFAULT_BUDGET_BYTES",
    "THIN_ORDER",
    "TOPIC_LEAF",
    "Batch",
    "Counters",
    "Kind",
    "Outbox",
    "OutboxError",
    "OutboxStats",
    "Row",
]
