"""Files that outlive a scope's state: the base LSTM every scope starts from, and the decisions log.

A scope's own models (its ETAS fit, its fine-tuned LSTM) live in its state and
travel in the changelog. What stays on disk:

* the **base LSTM**: the pretrained model that ships with the package
  (``stream_models/learners/data/base-lstm.npz``, made by ``seismowatch pretrain``), or
  a site's own (``seismowatch train`` writes one; ``lstm.base_model`` names it). A
  model file is plain arrays in a ``.npz`` read without pickle, so a foreign or
  tampered file cannot run code; one that is not a model is refused naming the file;
* the **decisions log** (``<state_dir>/decisions.jsonl``): every retraining of
  every scope, promoted or not, and why.
"""

from __future__ import annotations

import json
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from stream_models.learners.sequence import ModelFileError, SequenceModel
from stream_models.online.schedule import Decision
from stream_models.wire import dumps

BASE_LSTM = Path(__file__).resolve().parents[1] / "learners" / "data" / "base-lstm.npz"


def save_model(model: SequenceModel, path: Path) -> Path:
    """Write ``model`` as a ``.npz`` of plain arrays (atomically)."""
    a = model.to_arrays()
    arrays = {f"w:{k}": v for k, v in a["weights"].items()}
    arrays |= {k: np.asarray(a[k]) for k in ("inputs_mean", "inputs_scale", "static_mean",
                                              "static_scale")}
    header = {k: a[k] for k in ("format", "input_names", "static_names", "window", "meta")}
    arrays["header"] = np.array(json.dumps(header, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def load_model(path: Path) -> SequenceModel:
    """A model file written by :func:`save_model`; :class:`ModelFileError` naming the file
    for anything else."""
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            weights = {k[2:]: data[k] for k in data.files if k.startswith("w:")}
            body = {**header, "weights": weights,
                    **{k: data[k] for k in ("inputs_mean", "inputs_scale", "static_mean",
                                            "static_scale")}}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: not a seismowatch model file ({exc})") from exc
    try:
        return SequenceModel.from_arrays(body)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc


@cache
def _shipped() -> SequenceModel | None:
    return load_model(BASE_LSTM) if BASE_LSTM.exists() else None


def base_lstm(path: Path | None = None, enabled: bool = True) -> SequenceModel | None:
    """The model every scope starts from: ``path`` if given, else the shipped one."""
    if not enabled:
        return None
    return load_model(path) if path is not None else _shipped()


class DecisionLog:
    """Append-only JSON lines of every retraining decision."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, decision: Decision) -> None:
        with self.path.open("ab") as fh:
            fh.write(dumps(decision.to_json()) + b"\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

