"""What the models are asked to do: the policies settings build, with no model code behind them.

Kept apart from the models so that reading settings (``config show``, ``--help``)
never loads River, scipy or torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stream_models.fusion.hazard import HazardPolicy


@dataclass(frozen=True)
class TrainConfig:
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
    every_s: float = 30 * 86400.0
    train_window_s: float = 180 * 86400.0
    retention_s: float = 365 * 86400.0
    min_examples: int = 500
    min_positives: int = 20
    min_validation_positives: int = 5
    blocking: bool = False
    lstm: bool = True  # False: the job refits ETAS only
    learning_energy_j: float = 100.0  # the learning target the LSTM's labels are for
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class MonitorPolicy:
    """What is predicted, and when the model is trusted enough to move the hazard state."""

    target_energy_j: float = 1e4
    # the frequent target the learned models predict; None: each zone sets it from its first
    # first 100 events so that about 30 % of examples are positive (between Mc and the
    # alert target), and two decades below the alert target until then
    learning_energy_j: float | None = None
    horizon_s: float = 8 * 3600.0
    hazard: HazardPolicy = field(default_factory=HazardPolicy)
    # the mine-wide scope's states: its risk covers every face, so the zones' thresholds
    # would keep it in alarm far more often (None: the zones')
    mine_hazard: HazardPolicy | None = None
    min_examples: int = 50  # learning-target labels learned before the state may leave "a"
    min_positives: int = 5  # ... of which positive: the stacker has something to go on
    sequence_window: int = 64  # input vectors kept per zone for an LSTM swap's warm-up
    shift_s: float = 8 * 3600.0
    max_lateness_s: float = 24 * 3600.0  # later than this behind the zone's clock: refused
    stacker_lr: float = 0.003
    stacker_l2: float = 0.03
    stacker_calibration_lr: float = 0.01

    @property
    def learning_j(self) -> float:
        """The learning target a zone starts with (fixed, or the provisional one)."""
        return self.learning_energy_j or self.target_energy_j / 100
