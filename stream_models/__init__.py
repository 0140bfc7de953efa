"""Pure computation shared by the live daemon, replays and backtests: no Kafka, no Faust."""
