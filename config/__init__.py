"""Settings and the shipped operations configuration (Prometheus rules, Grafana dashboards)."""

from config.settings import (
    AlertSettings,
    KafkaSettings,
    Settings,
    TopicSettings,
    Zone,
    load_settings,
)

__all__ = [
    "AlertSettings",
    "KafkaSettings",
    "Settings",
    "TopicSettings",
    "Zone",
    "load_settings",
]
