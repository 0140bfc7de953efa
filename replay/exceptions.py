"""Errors a user can read: each names the file and what to do about it."""

from __future__ import annotations

from pathlib import Path


class SeismowatchError(Exception):
    """Base class of errors that the CLI reports as one line and exit code 2."""

    exit_code = 2


class UnreadableFileError(SeismowatchError):
    """The file as a whole cannot be read: wrong type, encrypted, empty, no known columns."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class BrokerError(SeismowatchError):
    """Kafka could not be reached or the embedded broker could not be started."""

    exit_code = 3
