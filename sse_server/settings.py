"""Settings of the read/stream API (``sse_server``): one frozen class, built in ``main()`` or by tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from schemas.settings import CommonSettings, env


class SseSettings(CommonSettings):
    """Everything in ``CommonSettings`` plus the read/stream API's own names.

    Environment:
      SCOREBOARD_SSE_HOST         interface to bind (default ``127.0.0.1``)
      SCOREBOARD_SSE_PORT         port to bind (default ``8001``)
      SCOREBOARD_TOP_K            (inherited) ranks kept per board; the largest ``limit`` (default 100)
      SCOREBOARD_SSE_HEARTBEAT_S  seconds between ``: ping`` comment heartbeats, at most 15 (default 15)
      SCOREBOARD_SSE_RETRY_MS     the ``retry:`` reconnect hint sent to browsers, in ms (default 3000)
      SCOREBOARD_CORS_ORIGINS     comma-separated browser origins allowed by CORS (default empty: no CORS)
      SCOREBOARD_SSE_STANDING_INTERVAL_MS  how often personal streams (``?user_id=``) are checked for a moved
                                  standing, in ms (default 100): standing events are coalesced to this
      SCOREBOARD_PERIOD_RETENTION_DAYS  days a daily/weekly period stays in the rank index after it ends (default 7,
                                  as the worker)
    """

    model_config = SettingsConfigDict(frozen=True)

    sse_host: str = Field("127.0.0.1", validation_alias=env("SCOREBOARD_SSE_HOST"))
    sse_port: int = Field(8001, ge=0, le=65535, validation_alias=env("SCOREBOARD_SSE_PORT"))
    sse_heartbeat_s: float = Field(15.0, gt=0, le=15, validation_alias=env("SCOREBOARD_SSE_HEARTBEAT_S"))
    sse_retry_ms: int = Field(3000, ge=0, le=600_000, validation_alias=env("SCOREBOARD_SSE_RETRY_MS"))
    sse_standing_interval_ms: int = Field(100, ge=10, le=60_000,
                                          validation_alias=env("SCOREBOARD_SSE_STANDING_INTERVAL_MS"))
    period_retention_days: int = Field(7, ge=0, validation_alias=env("SCOREBOARD_PERIOD_RETENTION_DAYS"))
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), validation_alias=env("SCOREBOARD_CORS_ORIGINS")
    )

    @property
    def period_retention(self) -> timedelta:
        return timedelta(days=self.period_retention_days)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value
