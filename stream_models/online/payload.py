"""What a waiting example keeps until its label matures: one float32 row per example.

The labeler (:mod:`stream_models.online.labels`) holds these rows in a fixed
array, so their layout fixes the size of a scope's state: the scaled inputs and
static context the example was scored on and its own log10 E (for River and the
history), every
component's alert-target probability (progressive scores), every expert's
learning-target probability (with the alert-target ones: the mixture's evidence),
the fused log count of targets (what the calibration learns on) and the fused
learning probability, and the baselines' bins.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from stream_models.features.inputs import INPUT_NAMES, STATIC_NAMES
from stream_models.online.experts import COMPONENTS, EXPERTS

SHIFT_KEYS = ("energy_sum_j_8h", "activity_ratio_8h")  # what the tabled baselines bin on
GATE = ("fused_log_count", "fused_learning")


@dataclass(frozen=True)
class Payload:
    """Where each value sits in a waiting example's row."""

    z: slice
    static: slice
    log_e: slice
    alert: slice
    learning: slice
    gate: slice
    shift: slice
    width: int

    @classmethod
    def layout(cls) -> Payload:
        sizes = [len(INPUT_NAMES), len(STATIC_NAMES), 1, len(COMPONENTS), len(EXPERTS), len(GATE),
                 len(SHIFT_KEYS)]
        edges = np.cumsum([0, *sizes]).tolist()
        return cls(*(slice(a, b) for a, b in itertools.pairwise(edges)), width=edges[-1])


PAYLOAD = Payload.layout()
