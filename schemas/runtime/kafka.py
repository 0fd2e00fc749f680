"""Broker connection helpers shared by the services: how every client connects (:func:`client_options`: the
bootstrap list, TLS and SASL from the settings), starting a client while Kafka is late, and telling a late broker
from one that refuses us (:class:`BrokerRefused`: a wrong password must stop a service at once with a clear line,
not after a minute of retries ending in "Unable to bootstrap").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, cast

from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)

if TYPE_CHECKING:
    from schemas.settings import CommonSettings

log = logging.getLogger(__name__)


T = TypeVar("T")

LOGIN_REFUSED = (SaslAuthenticationFailed, AuthenticationFailedError, UnsupportedSaslMechanismError,
                 IllegalSaslStateError)


class BrokerRefused(Exception):
    """The broker answered but refused us: the TLS handshake failed (an unknown CA, a certificate for another
    host) or the SASL login did (wrong password, a mechanism it does not enable). A configuration error: retrying
    cannot help, so it is raised at once."""


def tls_context(settings: CommonSettings) -> ssl.SSLContext:
    """The TLS context of ``SSL``/``SASL_SSL`` clients: the CA file (else the system's CAs), the client certificate
    when given (mutual TLS), hostname checking unless turned off."""
    from aiokafka.helpers import create_ssl_context

    password = settings.kafka_ssl_key_password
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_cafile, certfile=settings.kafka_ssl_certfile, keyfile=settings.kafka_ssl_keyfile,
        password=password.get_secret_value() if password is not None else None)
    if not settings.kafka_ssl_check_hostname:
        context.check_hostname = False
    return context


def client_options(settings: CommonSettings) -> dict[str, Any]:
    """The connection keyword arguments of every aiokafka client (producer, consumer, admin): the bootstrap list
    and the security settings (``KAFKA_SECURITY_PROTOCOL``, TLS context, SASL login). The one place they are
    turned into client options; the worker's Faust app gets the same (``stream_app.app.broker_credentials``)."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap_servers, "security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = tls_context(settings)
    if protocol.startswith("SASL_"):
        password = settings.kafka_sasl_password  # never None here: the settings refuse SASL without one
        options.update(sasl_mechanism=settings.kafka_sasl_mechanism, sasl_plain_username=settings.kafka_sasl_username,
                       sasl_plain_password=password.get_secret_value() if password is not None else None)
    return options


def plaintext(bootstrap: str) -> dict[str, Any]:
    """:func:`client_options` of an unsecured broker (the local development broker, the tests' broker)."""
    return {"bootstrap_servers": bootstrap, "security_protocol": "PLAINTEXT"}


def _hosts(bootstrap: str) -> list[tuple[str, int]]:
    hosts = []
    for entry in bootstrap.split(","):
        host, _, port = entry.strip().rpartition(":")
        if host and port.isdigit():
            hosts.append((host.strip("[]"), int(port)))
    return hosts


async def login_refused(options: Mapping[str, Any], timeout: float = 10.0) -> str | None:
    """Why the broker refuses clients with these ``options`` (TLS handshake or SASL login), or None: it accepted
    a connection, or none of the bootstrap servers answered (a late broker is for the retries to wait for).

    aiokafka itself logs such a refusal and goes on to "Unable to bootstrap", the same error as a broker that is
    not up yet; one connection made here tells them apart. Never names the password."""
    from aiokafka.conn import create_conn

    if options.get("security_protocol", "PLAINTEXT") == "PLAINTEXT":
        return None  # nothing to refuse
    security = {k: v for k, v in options.items() if k in ("security_protocol", "ssl_context", "sasl_mechanism",
                                                          "sasl_plain_username", "sasl_plain_password")}
    for host, port in _hosts(str(options["bootstrap_servers"])):
        where = f"the broker at {host}:{port}"
        try:
            async with asyncio.timeout(timeout):
                conn = await create_conn(host, port, request_timeout_ms=int(timeout * 1000), **security)
        except LOGIN_REFUSED as exc:
            mechanism, user = options.get("sasl_mechanism"), options.get("sasl_plain_username")
            return (f"{where} refused the SASL login of {user!r} ({mechanism}): {exc}; check KAFKA_SASL_USERNAME, "
                    "KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM")
        except ssl.SSLError as exc:
            if isinstance(exc, ssl.SSLEOFError | ssl.SSLZeroReturnError):
                continue  # closed during the handshake: a broker going down (or not a TLS listener), not a verdict
            return (f"the TLS handshake with {where} failed: {exc}; check KAFKA_SSL_CAFILE (the CA that signed the "
                    "broker's certificate), KAFKA_SSL_CHECK_HOSTNAME and KAFKA_SECURITY_PROTOCOL")
        except (OSError, KafkaError, TimeoutError):
            continue
        conn.close()
        return None
    return None


def refused_at_start(settings: CommonSettings, timeout: float = 5.0) -> str | None:
    """:func:`login_refused` with the service's settings, for a ``main`` to call before serving: a refusal is
    then one clear line and exit code 2, where the same error in a lifespan or a background task would be a
    traceback or a retry loop. Instant for ``PLAINTEXT``; a broker not up yet is no refusal (the service waits)."""
    return asyncio.run(login_refused(client_options(settings), timeout))


async def start_with_retry(make: Callable[[], T], what: str, timeout: float,
                           options: Mapping[str, Any] | None = None) -> T:
    """A started client from ``make()``, retrying with a *new* client until ``timeout`` seconds pass.

    Each service starts before or beside the broker (``make run``, compose, Kubernetes); a few seconds of
    lateness must not crash it. A stopped aiokafka client cannot be started again, so every attempt builds a
    fresh one; the last error is raised when time is up. Given the client's connection ``options``, a failed
    attempt is checked with :func:`login_refused`: a refusal raises :class:`BrokerRefused` at once.
    """
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        client: Any = make()
        try:
            await client.start()
            return cast(T, client)
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            stop = getattr(client, "stop", None) or getattr(client, "close", None)
            if stop is not None:
                with contextlib.suppress(Exception):  # a half-started client may fail to stop
                    await stop()
            refused = await login_refused(options) if options is not None else None
            if refused is not None:
                raise BrokerRefused(f"{what}: {refused}") from None
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s: broker not reachable yet (%s); retrying in %.1fs", what, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def assign_all_partitions(consumer: Any, topic: str, timeout: float = 30.0) -> list[Any]:
    """Assign every partition of ``topic`` to a group-less consumer, waiting for its metadata to arrive.

    Used by readers that must see every partition (the SSE tail, the API's reply listener) without a group.
    """
    from aiokafka.structs import TopicPartition

    deadline = time.monotonic() + timeout
    while True:
        # aiokafka's public partitions_for_topic only knows subscribed topics; ask the cluster directly
        cluster = await consumer._client.fetch_all_metadata()
        parts = cluster.partitions_for_topic(topic)
        if parts:
            tps = [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            return tps
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} has no partitions after {timeout}s (was it created?)")
        await asyncio.sleep(0.2)


async def read_latest(options: Mapping[str, Any], topic: str, timeout: float) -> dict[bytes, bytes]:
    """The latest value of every key still holding one (not a tombstone) in a compacted ``topic``, read from the
    start to the end offsets seen when it began (a group-less consumer with :func:`client_options` ``options``,
    nothing committed)."""
    from aiokafka import AIOKafkaConsumer

    consumer = await start_with_retry(
        lambda: AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False,
                                 auto_offset_reset="earliest", isolation_level="read_committed"),
        f"reading {topic}", timeout, options)
    try:
        tps = await assign_all_partitions(consumer, topic, timeout)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        latest: dict[bytes, bytes | None] = {}
        deadline = time.monotonic() + timeout
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic} not read to its end within {timeout}s")
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    if record.key is not None:
                        latest[record.key] = record.value
        return {key: value for key, value in latest.items() if value is not None}
    finally:
        await consumer.stop()
