"""``seismowatch config show``: the effective settings, secrets masked."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from daemon.cli.common import (
    ConfigOpt,
    config_app,
    console,
    settings_or_exit,
)


@config_app.command("show")
def config_show(
    config: ConfigOpt = None, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """Print the effective settings (defaults < TOML < SEISMOWATCH_* env); secrets masked."""
    settings = settings_or_exit(config)
    data = json.loads(settings.model_dump_json())
    if as_json:
        console.print_json(data=data)
        return
    table = Table("setting", "value", title="effective settings")

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        else:
            table.add_row(prefix, json.dumps(value, ensure_ascii=False))

    walk("", data)
    console.print(table)
