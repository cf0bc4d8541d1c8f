"""A worker's place in its consumer group on Redis Streams: what it reads, claims and
acknowledges there, and nothing about what the messages mean (:mod:`eventkit.consumer`).

Redis is the fast path, not the record: a group lost with Redis's data is created again,
and what it held is read from the sources' feeds.
"""

import logging
import time

import redis

logger = logging.getLogger(__name__)

DEAD_LETTER_MAXLEN = 10_000  # approximate: Redis trims whole nodes

# A message as read: (stream, message id, fields).
Message = tuple[str, str, dict]


class GroupMember:
    def __init__(
        self,
        client: redis.Redis,
        *,
        group: str,
        name: str,
        streams: list[str],
        batch_size: int,
        block_ms: int,
        claim_idle_ms: int,
        forget_idle_ms: int,
    ):
        self.client = client
        self.group = group
        self.name = name
        self.streams = streams
        self.batch_size = batch_size
        self.block_ms = block_ms
        # A message left unacknowledged this long is another worker's to take (its own
        # died, or failed before its acks).
        self.claim_idle_ms = claim_idle_ms
        # Workers join as hostname-pid, so every restart leaves a consumer behind in Redis.
        self.forget_idle_ms = forget_idle_ms
        self.dead_letter_stream = f"deadletter.{group}"
        self._last_claim = 0.0

    def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                self.client.xgroup_create(stream, self.group, id="0", mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def forget_dead_consumers(self) -> None:
        """Remove the group's consumers that hold no messages and have been idle for longer
        than ``forget_idle_ms``: workers that died or were restarted under a new name.

        A live worker is never that idle (each blocking read counts), and one with pending
        messages is kept until another worker has claimed them (``XAUTOCLAIM``), since
        removing it would drop them from the group's pending list.
        """
        for stream in self.streams:
            for consumer in self.client.xinfo_consumers(stream, self.group):
                name = _text(consumer["name"])
                if (
                    name != self.name
                    and consumer["pending"] == 0
                    and consumer["idle"] > self.forget_idle_ms
                ):
                    self.client.xgroup_delconsumer(stream, self.group, name)
                    logger.info(
                        "forgot consumer %s of %s on %s, idle for %d s",
                        name,
                        self.group,
                        stream,
                        consumer["idle"] // 1000,
                    )

    def read(self) -> list[Message]:
        """Messages left unacknowledged by a worker that died (when one could be stale by
        now), then new ones, waiting up to ``block_ms`` for them."""
        messages = []
        # A message is only stale after claim_idle_ms, so looking more often finds nothing.
        if time.monotonic() - self._last_claim >= self.claim_idle_ms / 2000:
            self._last_claim = time.monotonic()
            messages += self._claim_stale()
        return messages + self._read_new()

    def _read_new(self) -> list[Message]:
        try:
            reply = self.client.xreadgroup(
                self.group,
                self.name,
                {stream: ">" for stream in self.streams},
                count=self.batch_size,
                block=self.block_ms,
            )
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            logger.warning("consumer group missing (Redis lost its data?); recreating it")
            self.ensure_groups()
            return []
        return [
            (_text(stream), _text(mid), fields)
            for stream, entries in reply or []
            for mid, fields in entries
        ]

    def _claim_stale(self) -> list[Message]:
        claimed = []
        for stream in self.streams:
            try:
                reply = self.client.xautoclaim(
                    stream,
                    self.group,
                    self.name,
                    self.claim_idle_ms,
                    start_id="0-0",
                    count=self.batch_size,
                )
            except redis.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                self.ensure_groups()
                continue
            entries = reply[1]
            claimed += [(stream, _text(mid), fields) for mid, fields in entries if fields]
        if claimed:
            # A dead worker's, or this one's own after a poll that failed before its acks.
            logger.info(
                "claimed %d messages left unacknowledged for over %.0f s",
                len(claimed),
                self.claim_idle_ms / 1000,
            )
        return claimed

    def ack(self, stream: str, *message_ids: str) -> None:
        self.client.xack(stream, self.group, *message_ids)

    def copy_dead_letter(self, fields: dict) -> None:
        """Redis's copy of a dead letter, for operators watching the stream; bounded, since
        the table (or the log line, for an unreadable message) is the record."""
        self.client.xadd(self.dead_letter_stream, fields, maxlen=DEAD_LETTER_MAXLEN)

    def copy_dead_letter_if_redis_answers(self, fields: dict) -> None:
        """The copy, where what it copies is set aside already: Redis down costs only it."""
        try:
            self.copy_dead_letter(fields)
        except redis.RedisError as exc:
            logger.warning("could not copy the dead letter to Redis: %s", exc)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
