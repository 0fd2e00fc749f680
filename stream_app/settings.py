"""Settings of the stream worker (one frozen class; env names as in the README)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field

from schemas.settings import CommonSettings, env

DAY_MS = 86_400_000
JOURNAL_GRACE_DAYS = 7


class WorkerSettings(CommonSettings):
    """Stream worker settings (plus everything in :class:`CommonSettings`).

    Environment:
      SCOREBOARD_WORKER_ID                 Faust app id = consumer group and changelog prefix (``scoreboard-worker``)
      SCOREBOARD_DATA_DIR                  RocksDB state directory (``.data/worker``)
      SCOREBOARD_WORKER_WEB_ENABLED        serve the worker's health endpoint, ``/healthz`` and ``/readyz`` (``true``)
      SCOREBOARD_WORKER_WEB_HOST / _PORT   where it listens (``127.0.0.1`` / ``6066``); Faust's own web server,
                                           which would expose table contents, is never started
      SCOREBOARD_WORKER_STANDBY_REPLICAS   standby copies of each table partition on other workers (``1``)
      SCOREBOARD_BATCH_MAX                 records fetched and applied per batch at most (``10000``); a batch is
                                           whatever one fetch returns, so a quiet topic never waits to fill one;
                                           only a backlog fills it (each batch has fixed costs: the boards' lists,
                                           the record batches, a loop turn: bench 1 per CPU-second +13-30 % over
                                           2,000), and it holds the loop ~0.5 s (less than the probes' timeouts)
      SCOREBOARD_IDEMPOTENCY_TTL_S         how long an event id is remembered (``86400``: 24 h)
      SCOREBOARD_IDEMPOTENCY_SWEEP_S       how often expired event ids are deleted per partition (``3600``)
      SCOREBOARD_PERIOD_RETENTION_DAYS     days a daily/weekly period is kept after it ends (``7``); an event whose
                                           ``occurred_at`` is older than the oldest period kept is a dead letter
      SCOREBOARD_PERIOD_GRACE_S            events count for a day or week until its end plus this (``300``); later
                                           ones are dead letters (period closed), and at end + grace the period's
                                           final standings go to ``leaderboard-final``. ``occurred_at`` further than
                                           this ahead of the broker's time is a dead letter too
      SCOREBOARD_EMIT_INTERVAL_MS          board emissions per board: on average at most one per interval, two in a
                                           row at most (``100``): every emission goes to every SSE client, so this
                                           bounds the fan-out work
      SCOREBOARD_WORKER_PRODUCE_TIMEOUT_S  how long a record the worker produces may wait for the broker (``120``);
                                           past it the send fails, no offset is committed past it and the worker
                                           stops, to be restarted from its last commit (nothing lost or doubled)
      SCOREBOARD_WORKER_CONSUMER           ``same-loop`` (default): the Kafka consumer runs on the worker's event loop;
                                           ``thread``: in a thread with a loop of its own, as Faust runs it (kept to
                                           measure the difference, ``bench --only consumer``)
      SCOREBOARD_WORKER_SESSION_TIMEOUT_S  how long a silent (crashed) worker keeps its partitions (``30``)
    """

    worker_id: str = Field("scoreboard-worker", min_length=1, validation_alias=env("SCOREBOARD_WORKER_ID"))
    data_dir: Path = Field(Path(".data/worker"), validation_alias=env("SCOREBOARD_DATA_DIR"))
    web_enabled: bool = Field(True, validation_alias=env("SCOREBOARD_WORKER_WEB_ENABLED"))
    web_host: str = Field("127.0.0.1", validation_alias=env("SCOREBOARD_WORKER_WEB_HOST"))
    web_port: int = Field(6066, ge=1, le=65535, validation_alias=env("SCOREBOARD_WORKER_WEB_PORT"))
    standby_replicas: int = Field(1, ge=0, validation_alias=env("SCOREBOARD_WORKER_STANDBY_REPLICAS"))
    batch_max: int = Field(10_000, ge=1, le=100_000, validation_alias=env("SCOREBOARD_BATCH_MAX"))
    idempotency_ttl_s: int = Field(86_400, ge=1, validation_alias=env("SCOREBOARD_IDEMPOTENCY_TTL_S"))
    idempotency_sweep_s: float = Field(3600.0, ge=0, validation_alias=env("SCOREBOARD_IDEMPOTENCY_SWEEP_S"))
    period_retention_days: int = Field(7, ge=0, validation_alias=env("SCOREBOARD_PERIOD_RETENTION_DAYS"))
    period_grace_s: int = Field(300, ge=0, le=30 * 86_400, validation_alias=env("SCOREBOARD_PERIOD_GRACE_S"))
    emit_interval_ms: int = Field(100, ge=0, le=60_000, validation_alias=env("SCOREBOARD_EMIT_INTERVAL_MS"))
    produce_timeout_s: float = Field(120.0, ge=1, le=3600, validation_alias=env("SCOREBOARD_WORKER_PRODUCE_TIMEOUT_S"))
    consumer: Literal["same-loop", "thread"] = Field("same-loop", validation_alias=env("SCOREBOARD_WORKER_CONSUMER"))
    session_timeout_s: float = Field(30.0, ge=3, le=300, validation_alias=env("SCOREBOARD_WORKER_SESSION_TIMEOUT_S"))

    @property
    def period_retention(self) -> timedelta:
        return timedelta(days=self.period_retention_days)

    @property
    def revert_horizon_ms(self) -> int:
        return self.revert_days * DAY_MS

    @property
    def journal_keep_ms(self) -> int:
        """How long an event's journal entry is kept: the revert horizon plus a week, during which a revert is
        answered ``410`` (past the horizon) rather than ``404`` (never applied). ``SCOREBOARD_REVERT_DAYS=0`` (reverts
        off): none beyond the idempotency window."""
        if self.revert_days == 0:  # reverts off: event records live as long as the idempotency window only
            return 0
        return (self.revert_days + JOURNAL_GRACE_DAYS) * DAY_MS

    @property
    def broker_urls(self) -> list[str]:
        return [f"kafka://{h.strip()}" for h in self.kafka_bootstrap_servers.split(",") if h.strip()]
