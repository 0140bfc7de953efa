"""``seismowatch pretrain``: the base LSTM that ships with the package, from synthetic years."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from daemon.cli.common import app, console


@app.command()
def pretrain(
    out: Annotated[Path | None, typer.Option("--out", help="Model file to write (.npz); "
                                             "default: the package's own")] = None,
) -> None:
    """Train the base LSTM every scope starts from, on 24 synthetic years (fixed seeds
    1001-1024, rates and b-values spread, both faces and the mine-wide scope); the same
    command always writes the same file. Takes several minutes."""
    import tempfile

    from config.settings import load_settings
    from daemon.demo import SYNTHETIC_MINE_TOML
    from replay.gits_export import write_gits
    from replay.read import read_events
    from replay.synth import generate, pretraining_params
    from stream_models.retraining.pretrain import pretrain
    from stream_models.retraining.registry import BASE_LSTM, save_model

    target = out or BASE_LSTM
    settings = load_settings(SYNTHETIC_MINE_TOML)
    years = []
    with console.status("writing the synthetic years"), \
            tempfile.TemporaryDirectory(prefix="seismowatch-pretrain-") as tmp:
        for params in pretraining_params():
            path = write_gits(generate(params), Path(tmp) / f"year-{params.seed}.parquet")
            years.append((f"seed-{params.seed}", read_events(
                path, "gits", {}, timezone=settings.gits_timezone, zone_of=settings.zone_of,
                default_zone=settings.default_zone).events))
    with console.status(f"scoring {len(years)} synthetic years, then training"):
        model, report = pretrain(years, settings.monitor_policy(), settings.mine_scope_name)
    save_model(model, target)
    table = Table(title="base LSTM", show_header=False)
    for key in ("scopes", "examples", "train_examples", "train_positives",
                "validation_skill_mean", "train_seconds"):
        value = report[key]
        table.add_row(key.replace("_", " "), f"{value:.4f}" if isinstance(value, float) else
                      str(value))
    table.add_row("written to", f"{target} ({target.stat().st_size:,} bytes)")
    console.print(table)
