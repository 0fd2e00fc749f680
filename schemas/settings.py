"""Settings every service shares (broker, environment, topic names); each service extends it in one frozen class.

Environment names are those of the public contract (README, Configuration); a ``.env`` file may set the same
names and the environment wins.
Tests build settings objects directly (``Settings(field=...)``) and never touch ``os.environ``.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from schemas.catalog import EXAMPLE_CATALOG
from schemas.topics import TopicNames

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


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
      SCOREBOARD_BOARDS_FILE      the boards (YAML, ``schemas.boards``; default: none, one ``global`` board summing
                                  every points action over alltime, daily and weekly in UTC). Every service reads
                                  the same file and refuses to start on an invalid one, naming board and field;
                                  empty means unset
      SCOREBOARD_KAFKA_CONNECT_TIMEOUT  seconds to keep retrying the broker at start (default 60)
      SCOREBOARD_LOG_LEVEL        logging level (default INFO)
      SCOREBOARD_AUDIT_RETENTION_MS  retention of ``score-events``, the audit log (default -1: forever)
      SCOREBOARD_REPLICATION_FACTOR  replicas of every topic the project creates, changelogs included (default 1;
                                  use 3 on a real cluster)
      SCOREBOARD_REVERT_DAYS      the revert horizon in days (default 90): an applied event older than this can
                                  no longer be reverted (the write API answers 410) nor is listed by the admin
                                  ledger. The write API and the worker read the same value; 0 turns reverts off
                                  (every revert is 410) and keeps no journal past the idempotency window

    Broker security (README, Secure clusters), the same for every Kafka client of every service; Kafka's own names:
      KAFKA_SECURITY_PROTOCOL     ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT`` or ``SASL_SSL``
      KAFKA_SASL_MECHANISM        ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512`` (SASL_* only, required there)
      KAFKA_SASL_USERNAME         the login (SASL_* only, required there)
      KAFKA_SASL_PASSWORD         its password (SASL_* only, required there; never logged nor echoed)
      KAFKA_SSL_CAFILE            PEM file of the CA(s) the broker's certificate is checked against (SSL and
                                  SASL_SSL; default: the system's CAs)
      KAFKA_SSL_CERTFILE          PEM client certificate, for brokers that require one (mutual TLS; may hold the
                                  key too)
      KAFKA_SSL_KEYFILE           PEM private key of that certificate (needs KAFKA_SSL_CERTFILE)
      KAFKA_SSL_KEY_PASSWORD      password of an encrypted KAFKA_SSL_KEYFILE (never logged nor echoed)
      KAFKA_SSL_CHECK_HOSTNAME    check the broker's certificate names its address (default true; false only for
                                  brokers whose certificates name other hosts)
      A combination that cannot work is refused at start: SASL_* without mechanism, username or password; a SASL
      or SSL setting the protocol would not use (PLAINTEXT with a password would silently send none); a file that
      does not exist or holds no usable certificate or key. Outside dev, ``SASL_PLAINTEXT`` with ``PLAIN`` (the
      password in clear on the network) is refused too.
    """

    model_config = SettingsConfigDict(
        frozen=True, env_file=".env", extra="ignore", populate_by_name=True, validate_by_name=True
    )

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", validation_alias=env("KAFKA_BOOTSTRAP_SERVERS"))
    topic_prefix: str = Field("", validation_alias=env("SCOREBOARD_TOPIC_PREFIX"))
    partitions: int = Field(6, ge=1, le=1000, validation_alias=env("SCOREBOARD_PARTITIONS"))
    top_k: int = Field(100, ge=1, le=10_000, validation_alias=env("SCOREBOARD_TOP_K"))
    actions_file: Path = Field(EXAMPLE_CATALOG, validation_alias=env("SCOREBOARD_ACTIONS_FILE"))
    boards_file: Path | None = Field(None, validation_alias=env("SCOREBOARD_BOARDS_FILE"))
    kafka_connect_timeout: float = Field(60.0, gt=0, validation_alias=env("SCOREBOARD_KAFKA_CONNECT_TIMEOUT"))
    log_level: str = Field("INFO", validation_alias=env("SCOREBOARD_LOG_LEVEL"))
    audit_retention_ms: int = Field(-1, ge=-1, validation_alias=env("SCOREBOARD_AUDIT_RETENTION_MS"))
    replication_factor: int = Field(1, ge=1, le=16, validation_alias=env("SCOREBOARD_REPLICATION_FACTOR"))
    revert_days: int = Field(90, ge=0, le=36_500, validation_alias=env("SCOREBOARD_REVERT_DAYS"))
    kafka_security_protocol: SecurityProtocol = Field("PLAINTEXT", validation_alias=env("KAFKA_SECURITY_PROTOCOL"))
    kafka_sasl_mechanism: SaslMechanism | None = Field(None, validation_alias=env("KAFKA_SASL_MECHANISM"))
    kafka_sasl_username: str | None = Field(None, min_length=1, validation_alias=env("KAFKA_SASL_USERNAME"))
    kafka_sasl_password: SecretStr | None = Field(None, validation_alias=env("KAFKA_SASL_PASSWORD"))
    kafka_ssl_cafile: Path | None = Field(None, validation_alias=env("KAFKA_SSL_CAFILE"))
    kafka_ssl_certfile: Path | None = Field(None, validation_alias=env("KAFKA_SSL_CERTFILE"))
    kafka_ssl_keyfile: Path | None = Field(None, validation_alias=env("KAFKA_SSL_KEYFILE"))
    kafka_ssl_key_password: SecretStr | None = Field(None, validation_alias=env("KAFKA_SSL_KEY_PASSWORD"))
    kafka_ssl_check_hostname: bool = Field(True, validation_alias=env("KAFKA_SSL_CHECK_HOSTNAME"))
    # last: the field name shadows the env() helper inside this class body
    env: Literal["dev", "prod"] = Field("prod", validation_alias=env("SCOREBOARD_ENV"))
    # last: from here on, ``env`` in this class body is this field, not the helper function

    @field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: Any, info: ValidationInfo) -> Any:
        """``sasl_ssl`` and ``scram-sha-512`` mean what Kafka's upper-case names mean; empty means the default."""
        if isinstance(value, str):
            default = "PLAINTEXT" if info.field_name == "kafka_security_protocol" else None
            return value.strip().upper() or default
        return value

    @field_validator("boards_file", mode="before")
    @classmethod
    def _unset_when_empty(cls, value: Any) -> Any:
        """``SCOREBOARD_BOARDS_FILE=`` (empty, as a compose file's ``${SCOREBOARD_BOARDS_FILE:-}`` gives) means
        unset: the default boards, not a file named ``.``."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @model_validator(mode="after")
    def _security_combination(self) -> CommonSettings:
        problem = security_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def topics(self) -> TopicNames:
        return TopicNames.with_prefix(self.topic_prefix)


SASL_SETTINGS = {"kafka_sasl_mechanism": "KAFKA_SASL_MECHANISM", "kafka_sasl_username": "KAFKA_SASL_USERNAME",
                 "kafka_sasl_password": "KAFKA_SASL_PASSWORD"}
SSL_FILES = {"kafka_ssl_cafile": "KAFKA_SSL_CAFILE", "kafka_ssl_certfile": "KAFKA_SSL_CERTFILE",
             "kafka_ssl_keyfile": "KAFKA_SSL_KEYFILE"}


def security_problem(settings: CommonSettings) -> str | None:
    """Why the broker security settings cannot work together (None when they can), naming settings, not values.

    A setting the chosen protocol would ignore is a mistake, not a default: ``PLAINTEXT`` with a password set
    would connect without it and fail later with an authorization error far from its cause, or, worse, work
    against an open listener."""
    protocol = settings.kafka_security_protocol
    sasl, tls = protocol.startswith("SASL_"), protocol in ("SSL", "SASL_SSL")
    given = {env_name for field, env_name in SASL_SETTINGS.items() if getattr(settings, field) is not None}
    if sasl:
        missing = [env_name for env_name in SASL_SETTINGS.values() if env_name not in given]
        if settings.kafka_sasl_password is not None and not settings.kafka_sasl_password.get_secret_value():
            missing.append("KAFKA_SASL_PASSWORD (empty)")
        if missing:
            return f"KAFKA_SECURITY_PROTOCOL={protocol} needs {', '.join(missing)}"
        if protocol == "SASL_PLAINTEXT" and settings.kafka_sasl_mechanism == "PLAIN" and settings.env != "dev":
            return ("KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT with KAFKA_SASL_MECHANISM=PLAIN sends the password in "
                    "clear; use SASL_SSL (or SCRAM), or SCOREBOARD_ENV=dev")
    elif given:
        return (f"{', '.join(sorted(given))} set, but KAFKA_SECURITY_PROTOCOL={protocol} sends no SASL login; set "
                "KAFKA_SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT), or unset them")
    tls_given = sorted(env_name for field, env_name in {**SSL_FILES, "kafka_ssl_key_password": "KAFKA_SSL_KEY_PASSWORD"}
                       .items() if getattr(settings, field) is not None)
    if not settings.kafka_ssl_check_hostname:
        tls_given.append("KAFKA_SSL_CHECK_HOSTNAME")
    if not tls:
        if tls_given:
            return (f"{', '.join(tls_given)} set, but KAFKA_SECURITY_PROTOCOL={protocol} does not use TLS; set "
                    "KAFKA_SECURITY_PROTOCOL=SSL (or SASL_SSL), or unset them")
        return None
    for field, env_name in SSL_FILES.items():
        path = getattr(settings, field)
        if path is not None and not path.is_file():
            return f"{env_name}: no such file: {path}"
    if settings.kafka_ssl_keyfile is not None and settings.kafka_ssl_certfile is None:
        return "KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE (the certificate of that key)"
    if settings.kafka_ssl_key_password is not None and settings.kafka_ssl_certfile is None:
        return "KAFKA_SSL_KEY_PASSWORD needs KAFKA_SSL_CERTFILE"
    try:  # what schemas.runtime.kafka.tls_context loads, loaded once now: a bad file fails the start, not a client
        context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile is not None:
            key_password = settings.kafka_ssl_key_password
            context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile,
                                    key_password.get_secret_value() if key_password is not None else None)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        return f"KAFKA_SSL_CAFILE, KAFKA_SSL_CERTFILE or KAFKA_SSL_KEYFILE cannot be loaded: {exc}"
    return None


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
