"""Settings of the write API (one frozen class; environment names documented below).

API keys are ``SecretStr`` so that neither ``repr`` nor logs ever show them.
"""

from __future__ import annotations

from typing import Annotated, Any

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from schemas.settings import CommonSettings, HttpServerSettings, env

NO_KEYS_OUTSIDE_DEV = "SCOREBOARD_API_KEYS must be set outside dev mode (SCOREBOARD_ENV=dev)"


class ApiSettings(HttpServerSettings, CommonSettings):
    """Write API settings (plus everything of ``CommonSettings`` and of ``HttpServerSettings``:
    ``SCOREBOARD_HTTP_REQUEST_TIMEOUT_S``, ``SCOREBOARD_HTTP_MAX_HEADER_BYTES``).

    Environment:
      SCOREBOARD_API_HOST          interface to listen on (default ``127.0.0.1``)
      SCOREBOARD_API_PORT          port to listen on (default 8000)
      SCOREBOARD_API_KEYS          comma-separated accepted ``X-API-KEY`` values (several at once, for
                                   rotation); required unless ``SCOREBOARD_ENV=dev``
      SCOREBOARD_REPLY_TIMEOUT_MS  how long ``POST /scores`` waits for the worker's ``score-applied`` before
                                   answering 202 (default 2000)
      SCOREBOARD_MAX_BODY_BYTES    largest accepted request body; larger ones get 413 (default 16384)
      SCOREBOARD_RATE_LIMIT        per API key and replica, ``POST /scores`` beyond it is 429 with Retry-After, in
                                   the ``limits`` notation, ``;``-separated (default ``2000/second;60000/minute``;
                                   empty: no limit)
      SCOREBOARD_PRODUCE_TIMEOUT_MS  bound on the broker acknowledging a produce; past it, 503
                                   (default 10000)
    """

    api_host: str = Field("127.0.0.1", validation_alias=env("SCOREBOARD_API_HOST"))
    api_port: int = Field(8000, ge=0, le=65535, validation_alias=env("SCOREBOARD_API_PORT"))
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), validation_alias=env("SCOREBOARD_API_KEYS"))
    reply_timeout_ms: int = Field(2000, ge=0, le=600_000, validation_alias=env("SCOREBOARD_REPLY_TIMEOUT_MS"))
    max_body_bytes: int = Field(
        16384, ge=1, le=16 * 1024 * 1024, validation_alias=env("SCOREBOARD_MAX_BODY_BYTES"))
    rate_limit: str = Field("2000/second;60000/minute", validation_alias=env("SCOREBOARD_RATE_LIMIT"))
    produce_timeout_ms: int = Field(
        10_000, ge=100, le=600_000, validation_alias=env("SCOREBOARD_PRODUCE_TIMEOUT_MS"))

    @field_validator("rate_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        if value.strip():
            try:
                parse_many(value)
            except ValueError as exc:
                raise ValueError(f"SCOREBOARD_RATE_LIMIT {value!r} is not a rate limit such as "
                                 f"'2000/second;60000/minute': {exc}") from None
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """``"k1, k2,,"`` -> ``("k1", "k2")``; sequences (settings built in code) get the same cleaning."""
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, (list, tuple)):
            raw = [v.get_secret_value() if isinstance(v, SecretStr) else v for v in value]
            # strings are stripped and empties dropped; anything else is left for pydantic to refuse
            return tuple(v.strip() if isinstance(v, str) else v
                         for v in raw if not isinstance(v, str) or v.strip())
        return value

    @model_validator(mode="after")
    def _keys_outside_dev(self) -> ApiSettings:
        if not self.api_keys and self.env != "dev":
            raise ValueError(NO_KEYS_OUTSIDE_DEV)
        return self

    @property
    def reply_timeout(self) -> float:
        return self.reply_timeout_ms / 1000
