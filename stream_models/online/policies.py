"""What the models are asked to do: the policies settings build, with no model code behind them.

Kept apart from the models so that reading settings (``config show``, ``--help``)
never loads River, scipy or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from stream_models.fusion.hazard import HazardPolicy
from stream_models.seismology.grid_spec import GridSpec

ScopeKind = Literal["zone", "mine"]  # a zone of the mine, or the mine-wide scope


@dataclass(frozen=True)
class TrainConfig:
    """How a sequence model is trained: from scratch (pretraining) or fine-tuned."""

    window: int = 64
    hidden: int = 16
    epochs: int = 4
    seed: int = 7
    lr: float = 1e-3
    batch_size: int = 256
    horizon_s: float = 8 * 3600.0
    validation_fraction: float = 0.2
    device: str = "auto"


@dataclass(frozen=True)
class RetrainPolicy:
    """When a scope refits its ETAS law and fine-tunes its LSTM, on what, and how."""

    # ETAS: refitted when its data grew by a quarter (an aftershock sequence refits within
    # hours, a quiet mine within weeks), at least every 500 new events above Mc, or after a
    # week of event time with at least etas_min_new of them
    etas_growth: float = 0.25
    etas_every_events: int = 500
    etas_every_s: float = 7 * 86400.0
    etas_min_new: int = 20
    etas_window_s: float = 180 * 86400.0  # the events a fit sees
    # LSTM fine-tuning: labelled examples, or event time, whichever first
    lstm_every_examples: int = 300
    lstm_every_s: float = 7 * 86400.0
    lstm_min_new: int = 50
    train_window_s: float = 180 * 86400.0  # the examples a fine-tuning sees
    min_examples: int = 200  # labelled examples before a first fine-tuning
    min_positives: int = 20  # ... with this many learning-target events
    min_validation_positives: int = 5
    retention_s: float = 365 * 86400.0  # history kept per scope (events and examples)
    max_rows: int = 20_000  # ... and at most this many rows of each
    blocking: bool = False  # True: the caller waits for each job (reproducible runs)
    etas: bool = True
    lstm: bool = True
    finetune: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3, lr=3e-4))


@dataclass(frozen=True)
class ReentryPolicy:
    """When a zone is excluded, and the bounds a re-entry estimate keeps."""

    energy_j: float = 1e4  # events at or above this start an exclusion
    factor: float = 2.0  # re-entry: the rate back at this multiple of the pre-event rate
    min_exclusion_s: float = 4 * 3600.0  # the mine's fixed-time rule: a floor
    max_exclusion_s: float = 72 * 3600.0
    republish_s: float = 1800.0  # an update this far (or a fifth of the time left) is sent

    def __post_init__(self) -> None:
        if not self.factor > 1.0:
            raise ValueError(f"reentry.factor must be above 1 (got {self.factor}): the rate "
                             "only returns to the pre-event level itself after infinite time")
        if not 0.0 <= self.min_exclusion_s <= self.max_exclusion_s:
            raise ValueError("reentry: min_exclusion_h must be between 0 and max_exclusion_h")


@dataclass(frozen=True)
class MonitorPolicy:
    """What is predicted, and when the forecast is trusted enough to move the hazard state."""

    target_energy_j: float = 1e4
    # the frequent target the learned models predict; None: each scope sets it from its
    # first 100 events so that about 30 % of examples are positive (between Mc and the
    # alert target), and two decades below the alert target until then
    learning_energy_j: float | None = None
    horizon_s: float = 8 * 3600.0
    hazard: HazardPolicy = field(default_factory=HazardPolicy)
    # the mine-wide scope's states: its risk covers every face, so the zones' thresholds
    # would keep it in alarm far more often (None: the zones')
    mine_hazard: HazardPolicy | None = None
    reentry: ReentryPolicy = field(default_factory=ReentryPolicy)  # exclusions (zones only)
    min_examples: int = 50  # learning-target labels learned before the state may leave "a"
    min_positives: int = 5  # ... of which positive
    river_min_examples: int = 50  # labels the River model learns before its own forecast counts
    sequence_window: int = 64  # input vectors kept per scope for an LSTM swap's warm-up
    shift_s: float = 8 * 3600.0
    max_lateness_s: float = 24 * 3600.0  # later than this behind the scope's clock: refused
    utc_offset_s: float = 0.0  # the mine's local time, for the working week of the background
    # the hazard grid, kept by the scopes of these kinds: the mine-wide scope, or the zones
    # when there is none (the only zone then sees every event); None: no grid
    grid: GridSpec | None = None
    grid_kinds: tuple[ScopeKind, ...] = ("mine",)

    @property
    def learning_j(self) -> float:
        """The learning target a scope starts with (fixed, or the provisional one)."""
        return self.learning_energy_j or self.target_energy_j / 100

    def for_scope(self, kind: ScopeKind) -> MonitorPolicy:
        """The mine-wide scope counts every event, late ones at its clock, and has hazard
        states of its own."""
        if kind == "zone":
            return self
        return replace(self, max_lateness_s=float("inf"),
                       hazard=self.mine_hazard or self.hazard)
