"""What one event produced in one scope, and the errors that refuse an event.

Kept apart from :mod:`stream_models.online.scope` so that what reads outcomes
(records, metrics, backtests) does not need the scope's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from stream_models.fusion.hazard import State, Transition
from stream_models.online.reasons import Reason
from stream_models.seismology.hazard_grid import GridSnapshot
from stream_models.wire import Event

TARGET_BIT, LEARNING_BIT = 0, 1  # label bits: the alert target, the learning target


class DuplicateEventError(ValueError):
    """The scope already applied an event with this id (a re-delivery or a re-export):
    applying it twice would count its energy and labels twice; nothing changes."""


class LateEventError(ValueError):
    """An event too far behind its scope's clock to be scored; the scope's state is untouched.

    Scoring it would put it in windows and labels that have already moved on, and
    a whole past period replayed into live topics would pile up examples that
    never mature. The worker dead-letters it with this message.
    """


@dataclass
class Outcome:
    """What one event produced in one scope: its features, its forecasts, its alerts."""

    event: Event  # zone: the scope's name
    features: dict[str, float]
    inputs: dict[str, float]  # the model inputs, unscaled
    scaled: dict[str, float]  # ... as z-scores against the scope's history: what River learns
    probability: float  # the fused risk: what the hazard state follows
    state: State
    warming_up: bool
    transitions: list[Transition]
    learned: np.ndarray  # examples whose labels were released before this event
    components: dict[str, float]  # every expert's and the fused probability (alert target)
    learning: dict[str, float]  # every expert's log expected count (learning target)
    weights: dict[str, float]  # the mixture's weights
    versions: dict[str, str | None]  # river, lstm, etas: the model that scored
    own_fit: dict[str, bool]  # which experts forecast with a fit of their own
    reasons: list[Reason] = field(default_factory=list)  # why a raise among them was raised
    grid: GridSnapshot | None = None  # the hazard grid, when a snapshot fell due at this event

    @property
    def model_version(self) -> str:
        return str(self.versions["river"])

    @property
    def lstm_version(self) -> str | None:
        return self.versions["lstm"]

    @property
    def etas_version(self) -> str | None:
        return self.versions["etas"]


