"""Broker security settings: which combinations start, what each refusal says (never a password), and that every
client gets the same options: aiokafka's through ``client_options``, the worker's Faust app through
``broker_credentials``. On a real SASL_SSL broker: tests/integration/test_secure_cluster.py."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import faust
import pytest
from pydantic import ValidationError

from schemas.runtime.kafka import client_options, login_refused, plaintext
from schemas.settings import CommonSettings, FromCodeOnly, describe_invalid
from stream_app.app import broker_credentials
from stream_app.settings import WorkerSettings

pytestmark = pytest.mark.unit

CA = Path(__file__).resolve().parents[1] / "data" / "test-ca.pem"  # a CA certificate (no key): tests/data/README
SECRET = "not-echoed-9f3b"
SASL = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "scoreboard", "kafka_sasl_password": SECRET, "kafka_ssl_cafile": CA}


class Settings(FromCodeOnly, CommonSettings):
    pass


class Worker(FromCodeOnly, WorkerSettings):
    pass


def refusal(**values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        Settings(**values)
    message = describe_invalid(caught.value)
    assert SECRET not in message
    return message


def test_the_default_is_plaintext_with_no_options_but_the_bootstrap_list() -> None:
    settings = Settings(kafka_bootstrap_servers="b1:9092,b2:9092")
    assert client_options(settings) == plaintext("b1:9092,b2:9092")
    assert broker_credentials(Worker()) is None


def test_sasl_ssl_options_carry_the_login_and_a_verifying_tls_context() -> None:
    options = client_options(Settings(**SASL))
    context = options.pop("ssl_context")
    assert options == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "SASL_SSL",
                       "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "scoreboard",
                       "sasl_plain_password": SECRET}
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert not client_options(Settings(**SASL, kafka_ssl_check_hostname=False))["ssl_context"].check_hostname


def test_names_are_case_insensitive_as_in_kafka_tools() -> None:
    settings = Settings(**{**SASL, "kafka_security_protocol": "sasl_ssl", "kafka_sasl_mechanism": "scram-sha-256"})
    assert (settings.kafka_security_protocol, settings.kafka_sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-256")


@pytest.mark.parametrize("values", [
    SASL,
    {**SASL, "kafka_sasl_mechanism": "PLAIN"},
    {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "SCRAM-SHA-256",
     "kafka_sasl_username": "scoreboard", "kafka_sasl_password": SECRET},
    {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": CA},
    {"kafka_security_protocol": "SSL"},  # the system's CAs
])
def test_the_worker_gets_the_options_every_other_client_gets(values: dict[str, Any]) -> None:
    """Faust builds its consumer and producers from ``broker_credentials``: the same protocol, login and TLS (its
    public attributes; on a real broker: tests/integration/test_secure_cluster.py)."""
    settings = Worker(**values)
    expected = client_options(settings)
    credentials: Any = broker_credentials(settings)
    assert credentials.protocol.value == expected["security_protocol"]
    if isinstance(credentials, faust.SASLCredentials):
        assert (credentials.mechanism.value, credentials.username, credentials.password) == (
            expected["sasl_mechanism"], expected["sasl_plain_username"], expected["sasl_plain_password"])
        context = credentials.ssl_context
    else:
        assert isinstance(credentials, faust.SSLCredentials)
        context = credentials.context
    assert isinstance(context, ssl.SSLContext) == ("ssl_context" in expected)


def test_sasl_without_its_login_is_refused_naming_what_is_missing() -> None:
    message = refusal(kafka_security_protocol="SASL_SSL", kafka_sasl_username="scoreboard")
    assert message == "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM, KAFKA_SASL_PASSWORD"
    assert "KAFKA_SASL_PASSWORD (empty)" in refusal(**{**SASL, "kafka_sasl_password": ""})


def test_a_login_the_protocol_would_not_send_is_refused() -> None:
    message = refusal(kafka_sasl_username="scoreboard", kafka_sasl_password=SECRET)
    assert message.startswith("KAFKA_SASL_PASSWORD, KAFKA_SASL_USERNAME set, but KAFKA_SECURITY_PROTOCOL=PLAINTEXT "
                              "sends no SASL login")
    assert "does not use TLS" in refusal(kafka_ssl_cafile=CA)
    assert "KAFKA_SSL_CHECK_HOSTNAME set, but KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT does not use TLS" in refusal(
        **{**SASL, "kafka_security_protocol": "SASL_PLAINTEXT", "kafka_ssl_cafile": None,
           "kafka_ssl_check_hostname": False})


def test_tls_files_must_exist_and_load(tmp_path: Path) -> None:
    assert refusal(**{**SASL, "kafka_ssl_cafile": tmp_path / "none.pem"}) == (
        f"KAFKA_SSL_CAFILE: no such file: {tmp_path / 'none.pem'}")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    assert refusal(**{**SASL, "kafka_ssl_cafile": junk}).startswith(
        "KAFKA_SSL_CAFILE, KAFKA_SSL_CERTFILE or KAFKA_SSL_KEYFILE cannot be loaded")
    assert refusal(**{**SASL, "kafka_ssl_keyfile": CA}) == (
        "KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE (the certificate of that key)")


def test_a_password_in_clear_on_the_network_is_refused_outside_dev() -> None:
    clear = {**SASL, "kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN",
             "kafka_ssl_cafile": None}
    assert "sends the password in clear" in refusal(**clear)
    assert Settings(**clear, env="dev").kafka_security_protocol == "SASL_PLAINTEXT"


def test_the_password_is_never_shown() -> None:
    settings = Settings(**SASL)
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert SECRET not in repr(broker_credentials(Worker(**SASL)))
    assert isinstance(broker_credentials(Worker(**SASL)), faust.SASLCredentials)


async def test_a_plaintext_client_is_never_refused_and_asks_no_broker() -> None:
    assert await login_refused(plaintext("127.0.0.1:1")) is None
