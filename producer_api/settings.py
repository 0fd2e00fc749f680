"""Settings of the write API (one frozen class; environment names documented below).

API keys and admin keys are ``SecretStr`` so that neither ``repr`` nor logs ever show them. The two sets are
disjoint (a key in both is refused at start): an admin key can ban and revert, so holding a write key must never
be enough.
"""

from __future__ import annotations

from typing import Annotated, Any

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from producer_api.auth import entry_problem, parse_key
from schemas.settings import CommonSettings, HttpServerSettings, env

NO_KEYS_OUTSIDE_DEV = "SCOREBOARD_API_KEYS must be set outside dev mode (SCOREBOARD_ENV=dev)"
MIN_KEY_CHARS = 16  # outside dev; 16 random characters of [A-Za-z0-9] are ~95 bits
MIN_SECRET_CHARS = 32
# dev only (refused outside dev): event ids must be the same on every replica and across restarts
DEV_EVENT_ID_SECRET = "scoreboard-dev-event-id-secret-not-for-production"  # noqa: S105 (dev mode only)
# dev only, when SCOREBOARD_ADMIN_KEYS is not set (outside dev the admin routes are then 404); make run sets a
# random one of its own (.data/dev-admin-key)
DEV_ADMIN_KEY = "dev-admin:scoreboard-dev-admin-key-not-for-production"


def _split(value: Any) -> Any:
    """``"k1, k2,,"`` -> ``("k1", "k2")``; sequences (settings built in code) get the same cleaning."""
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, (list, tuple)):
        raw = [v.get_secret_value() if isinstance(v, SecretStr) else v for v in value]
        # strings are stripped and empties dropped; anything else is left for pydantic to refuse
        return tuple(v.strip() if isinstance(v, str) else v for v in raw if not isinstance(v, str) or v.strip())
    return value


def _check_rate_limit(name: str, value: str) -> str:
    if value.strip():
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"{name} {value!r} is not a rate limit such as '2000/second;60000/minute': "
                             f"{exc}") from None
    return value


class ApiSettings(HttpServerSettings, CommonSettings):
    """Write API settings (plus everything of ``CommonSettings`` and of ``HttpServerSettings``:
    ``SCOREBOARD_HTTP_REQUEST_TIMEOUT_S``, ``SCOREBOARD_HTTP_MAX_HEADER_BYTES``).

    Environment:
      SCOREBOARD_API_HOST          interface to listen on (default ``127.0.0.1``)
      SCOREBOARD_API_PORT          port to listen on (default 8000)
      SCOREBOARD_API_KEYS          comma-separated accepted ``X-API-KEY`` values, each ``id:key`` or a bare
                                   ``key`` (its id is then a hash prefix); one id with two keys is a rotation.
                                   Required unless ``SCOREBOARD_ENV=dev``, each key at least 16 characters
      SCOREBOARD_EVENT_ID_SECRET   server secret keying the idempotent event id hash (at least 32 characters;
                                   the same on every replica, kept across restarts); required unless
                                   ``SCOREBOARD_ENV=dev``
      SCOREBOARD_REPLY_TIMEOUT_MS  how long ``POST /scores`` waits for the worker's ``score-applied`` before
                                   answering 202 (default 2000)
      SCOREBOARD_MAX_BODY_BYTES    largest accepted request body; larger ones get 413 (default 16384)
      SCOREBOARD_RATE_LIMIT        per API key and replica, ``POST /scores`` beyond it is 429 with Retry-After, in
                                   the ``limits`` notation, ``;``-separated (default ``2000/second;60000/minute``;
                                   empty: no limit)
      SCOREBOARD_PRODUCE_TIMEOUT_MS  bound on the broker acknowledging a produce; past it, 504 (outcome unknown)
                                   (default 10000)
      SCOREBOARD_ADMIN_KEYS        comma-separated accepted ``X-ADMIN-KEY`` values (the moderation routes,
                                   ``/admin/...``), the same ``id:key`` format as the API keys; none of them may be
                                   an API key too. Outside dev each is at least 16 characters, and none set turns
                                   the admin routes off (404); in dev none set means the fixed dev admin key
                                   ``DEV_ADMIN_KEY`` (id ``dev-admin``)
      SCOREBOARD_ADMIN_RATE_LIMIT  per admin key id and replica, like SCOREBOARD_RATE_LIMIT for every admin route
                                   (default ``10/second;600/minute``; empty: no limit)
      SCOREBOARD_MODERATION_TIMEOUT_MS  how long a revert or a ledger request waits for the stream worker's
                                   answer on ``moderation-results`` (default 5000): a revert then answers 202
                                   (recorded, applied later), a ledger 504
    (``SCOREBOARD_REVERT_DAYS``, the revert horizon, is in ``CommonSettings``: the worker reads it too.)
    """

    api_host: str = Field("127.0.0.1", validation_alias=env("SCOREBOARD_API_HOST"))
    api_port: int = Field(8000, ge=0, le=65535, validation_alias=env("SCOREBOARD_API_PORT"))
    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), validation_alias=env("SCOREBOARD_API_KEYS"))
    reply_timeout_ms: int = Field(2000, ge=0, le=600_000, validation_alias=env("SCOREBOARD_REPLY_TIMEOUT_MS"))
    max_body_bytes: int = Field(
        16384, ge=1, le=16 * 1024 * 1024, validation_alias=env("SCOREBOARD_MAX_BODY_BYTES"))
    event_id_secret: SecretStr | None = Field(None, validation_alias=env("SCOREBOARD_EVENT_ID_SECRET"))
    rate_limit: str = Field("2000/second;60000/minute", validation_alias=env("SCOREBOARD_RATE_LIMIT"))
    produce_timeout_ms: int = Field(
        10_000, ge=100, le=600_000, validation_alias=env("SCOREBOARD_PRODUCE_TIMEOUT_MS"))
    admin_keys: Annotated[tuple[SecretStr, ...], NoDecode] = Field(
        (), validation_alias=env("SCOREBOARD_ADMIN_KEYS"))
    admin_rate_limit: str = Field("10/second;600/minute", validation_alias=env("SCOREBOARD_ADMIN_RATE_LIMIT"))
    moderation_timeout_ms: int = Field(
        5000, ge=100, le=600_000, validation_alias=env("SCOREBOARD_MODERATION_TIMEOUT_MS"))

    @field_validator("rate_limit")
    @classmethod
    def _valid_rate_limit(cls, value: str) -> str:
        return _check_rate_limit("SCOREBOARD_RATE_LIMIT", value)

    @field_validator("admin_rate_limit")
    @classmethod
    def _valid_admin_rate_limit(cls, value: str) -> str:
        return _check_rate_limit("SCOREBOARD_ADMIN_RATE_LIMIT", value)

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        return _split(value)

    @model_validator(mode="after")
    def _entries_are_keys(self) -> ApiSettings:
        for name, keys in (("SCOREBOARD_API_KEYS", self.api_keys), ("SCOREBOARD_ADMIN_KEYS", self.admin_keys)):
            for position, key in enumerate(keys, 1):
                problem = entry_problem(key.get_secret_value(), position)
                if problem is not None:
                    raise ValueError(f"{name}: {problem}")
        return self

    @model_validator(mode="after")
    def _admin_keys_apart(self) -> ApiSettings:
        """Admin keys: no duplicates, none that is also an API key (even in dev), 16+ characters outside dev."""
        admins = [parse_key(k.get_secret_value()) for k in self.admin_keys]
        secrets = [c.secret.get_secret_value() for c in admins]
        if len(set(secrets)) != len(secrets):
            raise ValueError("SCOREBOARD_ADMIN_KEYS lists one key twice (with two ids, or twice with one)")
        writers = {parse_key(k.get_secret_value()).secret.get_secret_value() for k in self.api_keys}
        both = [c.key_id for c, s in zip(admins, secrets, strict=True) if s in writers]
        if both:
            raise ValueError(f"SCOREBOARD_ADMIN_KEYS: the key(s) with id {', '.join(both)} are API keys too "
                             "(SCOREBOARD_API_KEYS); an admin key must be a key of its own")
        short = [c.key_id for c, s in zip(admins, secrets, strict=True) if len(s) < MIN_KEY_CHARS]
        if short and self.env != "dev":
            raise ValueError(f"SCOREBOARD_ADMIN_KEYS: the key(s) with id {', '.join(short)} are shorter than "
                             f"{MIN_KEY_CHARS} characters (allowed only with SCOREBOARD_ENV=dev)")
        return self

    @model_validator(mode="after")
    def _keys_outside_dev(self) -> ApiSettings:
        credentials = [parse_key(k.get_secret_value()) for k in self.api_keys]
        secrets = [c.secret.get_secret_value() for c in credentials]
        if len(set(secrets)) != len(secrets):
            raise ValueError("SCOREBOARD_API_KEYS lists one key twice (with two ids, or twice with one)")
        if self.env == "dev":
            return self
        if not self.api_keys:
            raise ValueError(NO_KEYS_OUTSIDE_DEV)
        short = [c.key_id for c, s in zip(credentials, secrets, strict=True) if len(s) < MIN_KEY_CHARS]
        if short:
            raise ValueError(f"SCOREBOARD_API_KEYS: the key(s) with id {', '.join(short)} are shorter than "
                             f"{MIN_KEY_CHARS} characters (allowed only with SCOREBOARD_ENV=dev)")
        secret = self.event_id_secret.get_secret_value() if self.event_id_secret else ""
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"SCOREBOARD_EVENT_ID_SECRET must be set to at least {MIN_SECRET_CHARS} characters "
                             "outside dev mode (the same value on every replica)")
        return self

    @property
    def event_ids_secret(self) -> SecretStr:
        """The secret keying event ids: the configured one, or the dev one (allowed in dev mode only)."""
        return self.event_id_secret or SecretStr(DEV_EVENT_ID_SECRET)

    @property
    def reply_timeout(self) -> float:
        return self.reply_timeout_ms / 1000

    @property
    def moderation_timeout(self) -> float:
        return self.moderation_timeout_ms / 1000

    @property
    def effective_admin_keys(self) -> tuple[SecretStr, ...]:
        """The admin keys in force: the configured ones; none set: the dev key in dev, none (routes off) in prod."""
        if self.admin_keys:
            return self.admin_keys
        return (SecretStr(DEV_ADMIN_KEY),) if self.env == "dev" else ()
