"""Every Kafka client of every service over SASL_SSL: the topic admin, the write API's producer and reply listener,
the worker (Faust's consumer and producer, its changelog topics, its own readers) and the read API's tails — on a
broker that accepts nothing else; a wrong password or a broker certificate nobody trusts stops each service at
once with one line naming what to check, not after a minute of retries, and without a traceback.

The broker is this module's own (its ports, data and throwaway CA: ``tools.kafka_local.SaslSsl``), so the session
broker and the other tests stay plaintext. ``bootstrap`` is overridden here, so the service factories
(``start_worker``, ``start_api``, ``start_sse``) start their processes on this broker; each is given the security
settings as its environment.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from schemas.runtime.kafka import client_options
from schemas.runtime.topic_admin import ensure_topics
from schemas.settings import CommonSettings, FromCodeOnly
from schemas.topics import TopicNames, contract_topics
from tests.fixtures.kafka import Topics
from tests.fixtures.services import base_env
from tests.fixtures.sse import poll
from tools.kafka_local import LocalKafka, Pki, SaslSsl, make_test_pki
from tools.supervisor import ROOT, Supervisor

pytestmark = pytest.mark.integration

USER, PASSWORD = "scoreboard", "s3cret-for-the-test-broker"
WRONG = "not-the-password-8d1e"
KEY = "secure-key"
StartApi = Callable[..., tuple[Supervisor, str]]


class Settings(FromCodeOnly, CommonSettings):
    pass


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_test_pki(Path(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def secure_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(Path(tmp_path_factory.mktemp("secure-kafka")), heap="512M",
                        secure=SaslSsl(pki, {USER: PASSWORD}))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def bootstrap(secure_broker: LocalKafka) -> str:
    """This module's broker for the service factories (overrides the session broker's ``bootstrap``)."""
    return secure_broker.bootstrap


def security_env(pki: Pki, mechanism: str = "SCRAM-SHA-512", password: str = PASSWORD) -> dict[str, str]:
    return {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": mechanism, "KAFKA_SASL_USERNAME": USER,
            "KAFKA_SASL_PASSWORD": password, "KAFKA_SSL_CAFILE": str(pki.ca_pem)}


def fresh_topics(partitions: int) -> Topics:
    prefix = f"s{uuid.uuid4().hex[:10]}-"
    return Topics(prefix, TopicNames.with_prefix(prefix), partitions)


async def test_topics_scores_worker_and_board_over_sasl_ssl_with_scram(
    bootstrap: str, pki: Pki, tmp_path: Path, start_worker: Callable[..., Supervisor], start_api: StartApi,
    start_sse: StartApi,
) -> None:
    topics = fresh_topics(3)
    settings = Settings(kafka_bootstrap_servers=bootstrap, kafka_security_protocol="SASL_SSL",
                        kafka_sasl_mechanism="SCRAM-SHA-512", kafka_sasl_username=USER, kafka_sasl_password=PASSWORD,
                        kafka_ssl_cafile=pki.ca_pem)
    specs = contract_topics(topics.names, topics.partitions)
    assert sorted(await ensure_topics(client_options(settings), specs)) == sorted(s.name for s in specs)

    secure = security_env(pki)
    worker = start_worker(topics, **secure)  # ready: its consumer group joined, its changelog created and recovered
    api_process, api = start_api(topics, api_keys=KEY, SCOREBOARD_REPLY_TIMEOUT_MS="60000", **secure)
    sse_process, sse = start_sse(topics, **secure)
    async with httpx.AsyncClient(timeout=90) as client:
        for user, action, total in (("ann", "complete_level_5", 50), ("bob", "complete_level_5", 50),
                                    ("ann", "complete_level_5", 100)):
            response = await client.post(f"{api}/scores", headers={"x-api-key": KEY},
                                         json={"user_id": user, "action_id": action})
            assert response.status_code == 200, response.text  # the worker applied it and the API read the answer
            assert response.json()["new_score"] == total

        async def board() -> bool:
            body = (await client.get(f"{sse}/leaderboard", params={"window": "alltime", "limit": 10})).json()
            return [(row["user_id"], row["score"]) for row in body.get("data", [])] == [("ann", 100), ("bob", 50)]

        await poll(board, 60, "the read API serves the board the worker built")
    for process in (worker, api_process, sse_process):
        assert PASSWORD not in process.output()


def run(module: str, env: dict[str, str], timeout: float = 120.0) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    return result.returncode, result.stderr + result.stdout, time.monotonic() - started


def test_the_topic_admin_logs_in_with_plain_too(bootstrap: str, pki: Pki) -> None:
    topics = fresh_topics(1)
    code, output, _ = run("schemas.runtime.topic_admin", base_env(bootstrap, topics, **security_env(pki, "PLAIN")))
    assert code == 0, output
    assert f"topics: ready ({len(contract_topics(topics.names, 1))} created" in output


@pytest.mark.parametrize("module", ["stream_app", "producer_api", "sse_server", "schemas.runtime.topic_admin"])
def test_a_wrong_password_stops_the_service_at_once_with_one_clear_line(
    bootstrap: str, pki: Pki, module: str, tmp_path: Path
) -> None:
    env = base_env(bootstrap, fresh_topics(1), **security_env(pki, password=WRONG),
                   SCOREBOARD_KAFKA_CONNECT_TIMEOUT="600",  # no retrying until this: a refusal is final at once
                   SCOREBOARD_DATA_DIR=str(tmp_path / "worker"))
    code, output, seconds = run(module, env)
    assert code == 2, output
    assert f"refused the SASL login of '{USER}' (SCRAM-SHA-512)" in output, output
    assert "check KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD and KAFKA_SASL_MECHANISM" in output
    assert "Traceback" not in output and WRONG not in output
    assert seconds < 60


def test_a_broker_certificate_no_configured_ca_signed_stops_the_service(bootstrap: str, pki: Pki) -> None:
    secure = security_env(pki)
    del secure["KAFKA_SSL_CAFILE"]  # the system's CAs: none of them signed the test broker's certificate
    code, output, _ = run("producer_api", base_env(bootstrap, fresh_topics(1), **secure))
    assert code == 2, output
    assert "the TLS handshake with the broker at" in output and "CERTIFICATE_VERIFY_FAILED" in output
    assert "check KAFKA_SSL_CAFILE" in output and "Traceback" not in output
