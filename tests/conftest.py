"""Shared fixtures: the real embedded broker, started once per test session."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from config.settings import TopicSettings, load_settings
from daemon.kafka.broker import EmbeddedBroker, ensure_topics


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(port=0, log_path=log) as b:
        ensure_topics(load_settings(), b.bootstrap)
        yield b


@pytest.fixture
def topic_env(request: pytest.FixtureRequest, tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Environment giving a test its own topics and state dir on the shared broker."""
    # parametrized tests share a long prefix: a digest of the full id keeps their topics apart
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:8]
    name = request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:32] + digest
    env = {"SEISMOWATCH_STATE_DIR": str(tmp_path / "state")}
    for field in TopicSettings.model_fields:  # every topic, so no test shares one
        env[f"SEISMOWATCH_TOPICS__{field.upper()}"] = f"t.{name}.{field}"
    return env
