"""Effective settings: defaults < TOML file < ``SEISMOWATCH_*`` environment < CLI flags.

One pydantic-settings model serves every command so that the worker, the replay
adapter and a backtest always agree on topics, zones and targets.
"""

from __future__ import annotations

import json
import math
import os
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.kafka import KafkaSettings
from config.keys import check_environ, check_toml, nest
from config.space import DataZone, SpaceSettings, Zone
from replay.limits import Limits
from stream_models.fusion.hazard import MINE_THRESHOLDS, HazardPolicy
from stream_models.online.policies import (
    MonitorPolicy,
    ReentryPolicy,
    RetrainPolicy,
    TrainConfig,
)

_toml_path: ContextVar[Path | None] = ContextVar("seismowatch_toml_path", default=None)


class TopicSettings(BaseModel):
    """Topic names; every component reads them from here."""

    events: str = "gits.events"
    rejected: str = "gits.events.rejected"
    mine: str = "gits.events.mine"  # every zone's events again, keyed for the mine-wide scope
    risk: str = "gits.risk"
    alerts: str = "gits.alerts"
    hazard_grid: str = "gits.hazard_grid"  # the hazard map, a snapshot every interval

    def all(self) -> list[str]:
        return [self.events, self.rejected, self.mine, self.risk, self.alerts, self.hazard_grid]


class AlertSettings(BaseModel):
    """What counts as dangerous, how far ahead, the hazard states, and where alerts go."""

    model_config = ConfigDict(allow_inf_nan=False)

    target_energy_j: float = Field(1e4, gt=0)
    # the frequent target the learned models predict, lifted to the alert target by
    # Gutenberg-Richter (none: two decades of energy below target_energy_j)
    learning_energy_j: float | None = Field(None, gt=0)
    horizon_h: float = Field(8.0, gt=0)
    max_lateness_h: float = Field(24.0, ge=0)  # events later than this behind a zone: dead letters
    # states b, c, d on the fused probability of a target within the horizon: what
    # `backtest --alerts-per-week 1` recommends on the synthetic mine's year (at most one
    # raise to c per zone per week; b a heads-up a quarter of the time). Re-run it per mine.
    thresholds: tuple[float, float, float] = HazardPolicy().thresholds
    # the same for the mine-wide scope (zones configured): its risk covers every face, so the
    # same budget needs higher thresholds; `backtest --alerts-per-week` recommends both
    mine_thresholds: tuple[float, float, float] = MINE_THRESHOLDS
    hysteresis: float = Field(0.2, ge=0, lt=1)  # fraction of a threshold: falls below (1 - h) x
    alert_state: Literal["b", "c", "d"] = "c"  # the lowest state that raises an alert
    cooldown_h: float = Field(0.5, ge=0)  # below alert_state this long before the all-clear
    min_examples: int = Field(50, ge=0)  # labelled examples before the state may leave "a"
    min_positives: int = Field(5, ge=0)
    log_path: Path | None = None  # default: <state_dir>/alerts.jsonl

    @model_validator(mode="after")
    def _valid_hazard_policy(self) -> AlertSettings:
        for thresholds in (self.thresholds, self.mine_thresholds):
            HazardPolicy(thresholds, self.hysteresis, self.alert_state)  # raises if inconsistent
        return self


class ReentrySettings(BaseModel):
    """A zone's exclusion after a large event: when its rate is expected back to a level
    people may work at (``factor`` x the rate just before the event)."""

    model_config = ConfigDict(allow_inf_nan=False)

    energy_j: float | None = Field(None, gt=0)  # events that start one (none: the alert target)
    factor: float = Field(2.0, gt=1)
    min_exclusion_h: float = Field(4.0, ge=0)  # the mine's fixed-time rule: never sooner
    max_exclusion_h: float = Field(72.0, gt=0)
    republish_h: float = Field(0.5, gt=0)  # an update this far (or a fifth of what is left)

    @model_validator(mode="after")
    def _ordered(self) -> ReentrySettings:
        if self.min_exclusion_h > self.max_exclusion_h:
            raise ValueError("reentry.min_exclusion_h must not exceed reentry.max_exclusion_h")
        return self


class WorkerSettings(BaseModel):
    """How the Faust worker checkpoints: state snapshot, then offset commit."""

    model_config = ConfigDict(allow_inf_nan=False)

    snapshot_every: int = Field(500, ge=1)  # events between state snapshots
    snapshot_interval_s: float = Field(1.0, gt=0)  # ... or this long, whichever first
    # what one fetch delivered is handled as a batch: at most this many messages, waiting
    # at most this long for more (a quiet stream's event waits no longer than that)
    batch_max: int = Field(500, ge=1)
    batch_within_s: float = Field(0.01, gt=0)
    group_id: str = "seismowatch"  # the Faust app id: workers with one id share partitions
    # zones one worker scores (configured ones always fit): names beyond it are dead-lettered,
    # so a file with a mistyped zone column cannot create metric series without bound
    max_zones: int = Field(64, ge=1)
    # a stream quiet this long (wall clock) lets the event clock run on in real time, so a
    # silent mine's forecasts still expire and its alert episodes close
    idle_clock_s: float = Field(300.0, gt=0)


class MonitoringSettings(BaseModel):
    """Thresholds of the shipped Prometheus alert rules, exported by the worker as gauges.

    The rules compare against these gauges, so a site tunes its alerts here
    (TOML or environment) and never edits the rule files.
    """

    model_config = ConfigDict(allow_inf_nan=False)

    stall_after_h: float = Field(6.0, gt=0)  # no event scored this long: StreamStalled
    roc_auc_floor: float = Field(0.5, ge=0, le=1)  # fused ROC-AUC below it: ModelDegraded
    roc_auc_min_positives: int = Field(20, ge=1)  # ... once this many targets were labelled


class LstmSettings(BaseModel):
    """The sequence model: the pretrained base every scope starts from, fine-tuned per scope
    (see ``stream_models.learners.sequence``)."""

    model_config = ConfigDict(allow_inf_nan=False)

    enabled: bool = True
    base_model: Path | None = None  # a site's own base (seismowatch train); none: the shipped one
    window: int = Field(64, ge=2)  # input vectors a new version warms a scope's state up on
    epochs: int = Field(3, ge=1)  # of a fine-tuning, from the model scoring now
    lr: float = Field(3e-4, gt=0)
    seed: int = 7
    finetune_every_examples: int = Field(300, ge=1)  # new labelled examples since the last ...
    finetune_every_h: float = Field(168.0, gt=0)  # ... or this much event time, with at least
    finetune_min_new: int = Field(50, ge=1)  # this many new examples
    train_window_h: float = Field(4320.0, gt=0)  # labelled history a fine-tuning sees
    validation_fraction: float = Field(0.2, gt=0, lt=1)  # the newest slice, held back
    min_train_examples: int = Field(200, ge=10)
    min_train_positives: int = Field(20, ge=1)
    min_validation_positives: int = Field(5, ge=1)
    shift_h: float = Field(8.0, gt=0)  # length of a mine shift (static context)
    blocking: bool = False  # True: the worker waits for each job (reproducible runs)
    device: str = "auto"  # "auto": CUDA when present, else CPU


class EtasSettings(BaseModel):
    """When a scope refits its ETAS law (see ``stream_models.seismology.etas_fit``)."""

    model_config = ConfigDict(allow_inf_nan=False)

    enabled: bool = True
    refit_growth: float = Field(0.25, gt=0)  # events above Mc grew by this share since the fit
    refit_every_events: int = Field(500, ge=1)  # ... or this many new ones
    refit_every_h: float = Field(168.0, gt=0)  # ... or this much event time, with at least
    refit_min_new: int = Field(20, ge=1)  # this many new events above Mc
    window_h: float = Field(4320.0, gt=0)  # the events a fit sees


class HistorySettings(BaseModel):
    """Each scope's history for retraining, kept in the changelog in chunks."""

    model_config = ConfigDict(allow_inf_nan=False)

    retention_h: float = Field(8760.0, gt=0)
    max_rows: int = Field(20000, ge=1000)  # events, and labelled examples, per scope


def known_timezone(name: str) -> str:
    """``name`` if the tz database knows it, else ValueError (settings and ``--tz`` alike)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None
    return name


class InputSettings(BaseModel):
    """Plausibility limits on input rows: a row outside them is rejected with the reason,
    so a unit slip or a corrupt date cannot become a target or a negative Kafka time."""

    model_config = ConfigDict(allow_inf_nan=False)

    max_energy_j: float = Field(1e12, gt=0)  # M 4.8 by log10 E = 1.5 M + 4.8: beyond mine tremors
    earliest: date = date(1990, 1, 1)  # before digital mine seismic monitoring
    future_slack_h: float = Field(24.0, ge=0)  # clock skew between the mine and this host

    def limits(self) -> Limits:
        return Limits(self.max_energy_j, datetime.combine(self.earliest, time(), UTC),
                      timedelta(hours=self.future_slack_h))


class Settings(BaseSettings):
    """Every setting of seismowatch; see ``seismowatch config show``."""

    model_config = SettingsConfigDict(
        env_prefix="SEISMOWATCH_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    partitions: int = Field(3, ge=1)
    replication_factor: int = Field(1, ge=1)
    embedded_port: int = Field(9092, ge=0, le=65535)
    zones: list[Zone] = Field(default_factory=list)
    default_zone: str = "mine"
    # the scope that sees every event when zones are configured ("": none)
    mine_scope: str = "mine-wide"
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    reentry: ReentrySettings = Field(default_factory=ReentrySettings)
    space: SpaceSettings = Field(default_factory=SpaceSettings)
    # zones derived from the data when none are configured (``seismowatch zones`` and every
    # command that reads a file write them to <state_dir>/derived-zones.toml): configured
    # zones always win
    derived_zones: list[DataZone] = Field(default_factory=list)
    input: InputSettings = Field(default_factory=InputSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    lstm: LstmSettings = Field(default_factory=LstmSettings)
    etas: EtasSettings = Field(default_factory=EtasSettings)
    history: HistorySettings = Field(default_factory=HistorySettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    state_dir: Path = Path(".seismowatch")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(9108, ge=0, le=65535)
    gits_timezone: str = "Asia/Novokuznetsk"  # GITS exports are written in mine local time
    catalog_timezone: str = "UTC"
    # the mine's local time: the working week and shifts a background may follow
    local_timezone: str = "Asia/Novokuznetsk"

    @field_validator("gits_timezone", "catalog_timezone", "local_timezone")
    @classmethod
    def _known_timezone(cls, name: str) -> str:
        return known_timezone(name)

    @model_validator(mode="after")
    def _unique_zone_names(self) -> Settings:
        names = [z.name for z in self.zones]
        if len(names) != len(set(names)):
            raise ValueError(f"zone names must be unique, got {names}")
        if self.mine_scope and self.mine_scope in {*names, self.default_zone}:
            raise ValueError(f"mine_scope {self.mine_scope!r} is also a zone name")
        return self

    @property
    def mine_scope_name(self) -> str | None:
        """The mine-wide scope, when there are zones to sum up (none configured: the
        default zone already sees every event)."""
        return self.mine_scope or None if self.zones or self.derived_zones else None

    @property
    def known_zones(self) -> list[str]:
        """Zones that never count against ``worker.max_zones``."""
        names = [z.name for z in self.zones or self.derived_zones] + [self.default_zone]
        return names + ([self.mine_scope_name] if self.mine_scope_name else [])

    @property
    def alert_log_path(self) -> Path:
        return self.alerts.log_path or self.state_dir / "alerts.jsonl"

    @property
    def utc_offset_s(self) -> float:
        """The local time zone's offset now (a daylight-saving hour is not followed)."""
        from zoneinfo import ZoneInfo

        offset = datetime.now(ZoneInfo(self.local_timezone)).utcoffset()
        return offset.total_seconds() if offset is not None else 0.0

    def monitor_policy(self) -> MonitorPolicy:
        """The per-zone pipeline's policy: the same for the daemon and a backtest."""
        a, r = self.alerts, self.reentry
        hazard = HazardPolicy(a.thresholds, a.hysteresis, a.alert_state, a.cooldown_h * 3600,
                              a.horizon_h * 3600)
        return MonitorPolicy(
            target_energy_j=a.target_energy_j,
            learning_energy_j=a.learning_energy_j,
            horizon_s=a.horizon_h * 3600,
            hazard=hazard,
            mine_hazard=replace(hazard, thresholds=a.mine_thresholds),
            min_examples=a.min_examples,
            min_positives=a.min_positives,
            sequence_window=self.lstm.window,
            shift_s=self.lstm.shift_h * 3600,
            max_lateness_s=a.max_lateness_h * 3600,
            utc_offset_s=self.utc_offset_s,
            reentry=ReentryPolicy(r.energy_j or a.target_energy_j, r.factor,
                                  r.min_exclusion_h * 3600, r.max_exclusion_h * 3600,
                                  r.republish_h * 3600),
            grid=self.space.spec() if self.space.enabled else None,
            grid_kinds=("mine",) if self.mine_scope_name else ("zone",),
        )

    def retrain_policy(self) -> RetrainPolicy:
        """When and how each scope refits ETAS and fine-tunes its LSTM: the same for the
        worker, ``seismowatch train`` and a backtest."""
        m, e, h = self.lstm, self.etas, self.history
        return RetrainPolicy(
            etas_growth=e.refit_growth, etas_every_events=e.refit_every_events,
            etas_every_s=e.refit_every_h * 3600, etas_min_new=e.refit_min_new,
            etas_window_s=e.window_h * 3600, lstm_every_examples=m.finetune_every_examples,
            lstm_every_s=m.finetune_every_h * 3600, lstm_min_new=m.finetune_min_new,
            train_window_s=m.train_window_h * 3600, min_examples=m.min_train_examples,
            min_positives=m.min_train_positives,
            min_validation_positives=m.min_validation_positives,
            retention_s=h.retention_h * 3600, max_rows=h.max_rows, blocking=m.blocking,
            etas=e.enabled, lstm=m.enabled,
            finetune=TrainConfig(window=m.window, epochs=m.epochs, seed=m.seed, lr=m.lr,
                                 horizon_s=self.alerts.horizon_h * 3600,
                                 validation_fraction=m.validation_fraction, device=m.device),
        )

    def zone_of(self, x: float, y: float, z: float) -> str:
        """The first configured zone containing the point; with none configured, the
        derived zone of the nearest centre; else ``default_zone``."""
        for zone in self.zones:
            if zone.contains(x, y, z):
                return zone.name
        if not self.zones and self.derived_zones and math.isfinite(x) and math.isfinite(y):
            return min(self.derived_zones, key=lambda dz: math.hypot(x - dz.x, y - dz.y)).name
        return self.default_zone

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_path.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        sources.append(file_secret_settings)
        return tuple(sources)


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Build the effective settings; ``overrides`` are CLI flags (``None`` means not given).

    Nested overrides use dotted keys, e.g. ``{"kafka.bootstrap_servers": "h:9092"}``.

    >>> load_settings(partitions=6).partitions
    6
    """
    if config is not None and not Path(config).is_file():
        raise FileNotFoundError(f"config file not found: {config}")
    if config is not None:
        check_toml(Path(config), Settings)
    check_environ(os.environ, Settings)
    nested = nest((k, v) for k, v in overrides.items() if v is not None)
    token = _toml_path.set(Path(config) if config is not None else None)
    try:
        if nested:
            # CLI flags win, but must not wipe sibling keys of the same nested model
            base = Settings()
            merged = _deep_merge(base.model_dump(mode="python"), nested)
            return Settings.model_validate(merged)
        return Settings()
    finally:
        _toml_path.reset(token)


def child_env(settings: Settings) -> dict[str, str]:
    """``SEISMOWATCH_*`` variables that rebuild ``settings`` in a child process.

    Secrets are revealed here because a child needs them; the result goes into a
    child's environment only, never to a log or the screen.
    """

    def reveal(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, BaseModel):
            return {k: reveal(getattr(value, k)) for k in type(value).model_fields}
        if isinstance(value, list | tuple):
            return [reveal(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, float) and value in (float("inf"), float("-inf")):
            return None  # unbounded zone box side: the field's default
        return value

    def drop_none(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: drop_none(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [drop_none(v) for v in value]
        return value

    env = {}
    for name in Settings.model_fields:
        value = drop_none(reveal(getattr(settings, name)))
        env[f"SEISMOWATCH_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    return env


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
