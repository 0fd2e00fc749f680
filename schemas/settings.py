"""Settings every service shares (broker, environment, topic names); each service extends it in one frozen class.

Environment names are those of the public contract (README, Configuration); a ``.env`` file may set the same
names and the environment wins.
Tests build settings objects directly (``Settings(field=...)``) and never touch ``os.environ``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from schemas.catalog import EXAMPLE_CATALOG
from schemas.topics import TopicNames


def env(name: str) -> AliasChoices:
    """Accept the contract's environment name (and the field name, for settings built in code)."""
    return AliasChoices(name)


class CommonSettings(BaseSettings):
    """Shared by all services.

    Environment:
      KAFKA_BOOTSTRAP_SERVERS     broker list (default ``127.0.0.1:9092``)
      SCOREBOARD_ENV              ``dev`` or ``prod`` (default ``prod``: insecure defaults are refused)
      SCOREBOARD_TOPIC_PREFIX     prefix for every topic name (default empty; tests isolate themselves with it)
      SCOREBOARD_PARTITIONS       partitions of ``score-events``/``score-applied`` (default 6)
      SCOREBOARD_TOP_K            ranks kept by the pipeline and the largest ``limit`` (default 100)
      SCOREBOARD_ACTIONS_FILE     action catalog file (default: the shipped example)
      SCOREBOARD_KAFKA_CONNECT_TIMEOUT  seconds to keep retrying the broker at start (default 60)
      SCOREBOARD_LOG_LEVEL        logging level (default INFO)
      SCOREBOARD_AUDIT_RETENTION_MS  retention of ``score-events``, the audit log (default -1: forever)
      SCOREBOARD_REPLICATION_FACTOR  replicas of every topic the project creates, changelogs included (default 1;
                                  use 3 on a real cluster)
    """

    model_config = SettingsConfigDict(
        frozen=True, env_file=".env", extra="ignore", populate_by_name=True, validate_by_name=True
    )

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias=env("KAFKA_BOOTSTRAP_SERVERS"))
    topic_prefix: str = Field("", validation_alias=env("SCOREBOARD_TOPIC_PREFIX"))
    partitions: int = Field(6, ge=1, le=1000, validation_alias=env("SCOREBOARD_PARTITIONS"))
    top_k: int = Field(100, ge=1, le=10_000, validation_alias=env("SCOREBOARD_TOP_K"))
    actions_file: Path = Field(EXAMPLE_CATALOG, validation_alias=env("SCOREBOARD_ACTIONS_FILE"))
    kafka_connect_timeout: float = Field(60.0, gt=0, validation_alias=env("SCOREBOARD_KAFKA_CONNECT_TIMEOUT"))
    log_level: str = Field("INFO", validation_alias=env("SCOREBOARD_LOG_LEVEL"))
    audit_retention_ms: int = Field(-1, ge=-1, validation_alias=env("SCOREBOARD_AUDIT_RETENTION_MS"))
    replication_factor: int = Field(1, ge=1, le=16, validation_alias=env("SCOREBOARD_REPLICATION_FACTOR"))
    # last: the field name shadows the env() helper inside this class body
    env: Literal["dev", "prod"] = Field("prod", validation_alias=env("SCOREBOARD_ENV"))
    # last: from here on, ``env`` in this class body is this field, not the helper function

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.topic_prefix)


class HttpServerSettings(BaseSettings):
    """What a client may make an HTTP service (write API, read/stream API) hold while it sends a request: enforced
    under the app, in the HTTP protocol (``schemas/runtime/uvicorn_internals.py``).

    Environment:
      SCOREBOARD_HTTP_REQUEST_TIMEOUT_S   seconds a connection may take to send a whole request (line, headers,
                                  body), from connecting or from its first byte after a response; past it the
                                  connection is closed (``408`` if part of a request came) (default 10)
      SCOREBOARD_HTTP_MAX_HEADER_BYTES   largest request line + headers of one request; past it ``431`` and the
                                  connection is closed (default 32768)
    """

    http_request_timeout_s: float = Field(10.0, gt=0, le=300,
                                         validation_alias=AliasChoices("SCOREBOARD_HTTP_REQUEST_TIMEOUT_S"))
    http_max_header_bytes: int = Field(32 * 1024, ge=1024, le=1024 * 1024,
                                       validation_alias=AliasChoices("SCOREBOARD_HTTP_MAX_HEADER_BYTES"))


class FromCodeOnly(BaseSettings):
    """Mixin: settings from their arguments and defaults alone — neither the environment nor a ``.env`` file of
    the machine can change them. For what must not depend on the machine: in-process tests, exported documents
    (``class CodeOnlySseSettings(FromCodeOnly, SseSettings)``)."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def describe_invalid(exc: ValidationError) -> str:
    """Why settings were refused: one line per problem, naming the setting, never the values (they may be keys)."""
    lines = []
    for err in exc.errors(include_url=False, include_input=False):
        msg = str(err["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in err["loc"])
        lines.append(f"{where}: {msg}" if where else msg)
    return "; ".join(lines)
