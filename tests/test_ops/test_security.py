"""Security options: TLS and SASL/SCRAM reach every Kafka client, secrets come from the
environment or files and are never printed, and deployment commands behave."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from config.settings import Settings, load_settings
from daemon.app import broker_credentials
from daemon.kafka.broker import EmbeddedBroker, aio_client_config, client_config, free_port
from tests.fixtures import cli

pytestmark = pytest.mark.slow  # makes certificates with openssl and starts workers

SECRET = "pa55-w0rd-never-logged"


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate and key made by openssl, as a site's CA would issue."""
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=kafka.mine.local", "-keyout", str(d / "key.pem"),
         "-out", str(d / "cert.pem")],
        check=True, capture_output=True,
    )
    (d / "password").write_text(SECRET + "\n")
    return {"ca": d / "cert.pem", "cert": d / "cert.pem", "key": d / "key.pem",
            "password": d / "password"}


def _secured(files: dict[str, Path]) -> Settings:
    return load_settings(**{
        "kafka.bootstrap_servers": "kafka.mine.local:9093",
        "kafka.security_protocol": "SASL_SSL",
        "kafka.sasl_mechanism": "SCRAM-SHA-512",
        "kafka.sasl_username": "seismowatch",
        "kafka.sasl_password_file": str(files["password"]),
        "kafka.ssl_cafile": str(files["ca"]),
        "kafka.ssl_certfile": str(files["cert"]),
        "kafka.ssl_keyfile": str(files["key"]),
    })


def test_tls_and_scram_reach_kafka_python_aiokafka_and_faust(tls_files: dict[str, Path]) -> None:
    from kafka import KafkaAdminClient, KafkaProducer

    s = _secured(tls_files)
    bootstrap = s.kafka.bootstrap_servers
    # kafka-python (replay producer, admin client): every option is one it knows
    sync = client_config(s, bootstrap)
    for cls in (KafkaProducer, KafkaAdminClient):
        assert set(sync) <= set(cls.DEFAULT_CONFIG), cls.__name__
    assert sync["sasl_mechanism"] == "SCRAM-SHA-512" and sync["sasl_plain_password"] == SECRET
    assert sync["ssl_cafile"] == str(tls_files["ca"]) and sync["ssl_check_hostname"] is True

    # aiokafka (feeds, recovery helpers): TLS as one context with the site's CA loaded
    aio = aio_client_config(s, bootstrap)
    context = aio["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    issuers = [dict(x[0] for x in c["subject"]) for c in context.get_ca_certs()]
    assert {"commonName": "kafka.mine.local"} in issuers

    async def construct() -> None:
        from aiokafka import AIOKafkaConsumer

        AIOKafkaConsumer(enable_auto_commit=False, **aio)  # refuses unknown options

    asyncio.run(construct())

    # Faust (the worker's own consumer and producer)
    creds = broker_credentials(s.kafka)
    assert creds.username == "seismowatch" and creds.password == SECRET
    assert creds.mechanism.value == "SCRAM-SHA-512" and creds.ssl_context is not None


def test_secrets_from_files_are_read_checked_and_masked(tls_files: dict[str, Path]) -> None:
    s = _secured(tls_files)
    assert s.kafka.sasl_password is not None
    assert s.kafka.sasl_password.get_secret_value() == SECRET  # trailing newline dropped
    for text in (repr(s), str(s), s.model_dump_json()):
        assert SECRET not in text
    with pytest.raises(ValueError, match="missing-secret"):
        missing = tls_files["ca"].parent / "missing-secret"
        load_settings(**{"kafka.sasl_password_file": str(missing)})
    with pytest.raises(ValueError, match="both set and differ"):
        load_settings(**{"kafka.sasl_password": "other",
                         "kafka.sasl_password_file": str(tls_files["password"])})


def test_a_failing_worker_never_prints_the_password(tls_files: dict[str, Path]) -> None:
    env = {
        "SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",  # nobody listens
        "SEISMOWATCH_KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SEISMOWATCH_KAFKA__SASL_MECHANISM": "SCRAM-SHA-256",
        "SEISMOWATCH_KAFKA__SASL_USERNAME": "seismowatch",
        "SEISMOWATCH_KAFKA__SASL_PASSWORD": SECRET,
        "SEISMOWATCH_METRICS_PORT": str(free_port()),
    }
    result = cli("worker", "-v", env=env, timeout=120)
    out = result.stdout + result.stderr
    assert result.returncode == 3, out[-3000:]  # Kafka unreachable, said in one line
    assert SECRET not in out
    shown = cli("config", "show", env=env)
    assert shown.returncode == 0 and SECRET not in shown.stdout and "**********" in shown.stdout


@pytest.mark.integration
def test_a_taken_metrics_port_is_one_clear_line(
    broker: EmbeddedBroker, topic_env: dict[str, str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**topic_env, "SEISMOWATCH_METRICS_PORT": str(port)}
        result = cli("worker", "--bootstrap", broker.bootstrap, env=env, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert f"metrics endpoint 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.integration
def test_topics_job_creates_the_configured_topics(
    broker: EmbeddedBroker, topic_env: dict[str, str]
) -> None:
    env = {**topic_env, "SEISMOWATCH_PARTITIONS": "4"}
    result = cli("topics", "--bootstrap", broker.bootstrap, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in (v for k, v in topic_env.items() if k.startswith("SEISMOWATCH_TOPICS__")):
        assert any(name in line and line.rstrip(" │").endswith("4") for line in
                   result.stdout.splitlines()), (name, result.stdout)
    again = cli("topics", "--bootstrap", broker.bootstrap, env=env, timeout=120)
    assert again.returncode == 0  # a second run (a restarted job) changes nothing


def test_topics_job_refuses_to_run_without_a_cluster() -> None:
    result = cli("topics", env={"SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS": ""})
    assert result.returncode == 2 and "needs --bootstrap" in result.stderr
    feed = cli("alerts", env={"SEISMOWATCH_KAFKA__BOOTSTRAP_SERVERS": ""})
    assert feed.returncode == 2 and "reads an existing cluster" in feed.stderr
