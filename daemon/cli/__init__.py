"""``seismowatch``: one console script over the broker, synthetic data, replay, the worker
and offline analysis; one module per command, registered here in the order ``--help``
lists them. Heavy libraries are imported inside the commands that need them."""

from __future__ import annotations

import sys
from importlib import import_module

from daemon.cli.common import app

__all__ = ["app", "main"]

COMMANDS = ("config_show", "broker", "topics", "synth", "replay", "pretrain", "train",
            "backtest", "report", "worker", "alerts", "demo")
for _name in COMMANDS:
    import_module(f"daemon.cli.{_name}")  # the module registers its command on ``app``


def main() -> None:  # pragma: no cover - console-script shim
    sys.exit(app())
