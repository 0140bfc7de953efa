"""Worker tests: the synthetic mine's zones and a short synthetic export, built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import load_settings
from replay.read import read_events
from stream_models.wire import Event
from tests.fixtures import REPO, synth_file

MINE_TOML = REPO / "config" / "synthetic-mine.toml"
DAYS = 90  # both panels are mined; ~1,900 events, a few dozen targets


@pytest.fixture(scope="session")
def mine_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth_file(tmp_path_factory.mktemp("mine") / "mine.parquet", days=DAYS)


@pytest.fixture(scope="session")
def mine_events(mine_file: Path) -> list[Event]:
    s = load_settings(MINE_TOML)
    return read_events(
        mine_file, "gits", {}, timezone=s.gits_timezone, zone_of=s.zone_of,
        default_zone=s.default_zone,
    ).events
