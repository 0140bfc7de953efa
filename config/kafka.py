"""How to reach Kafka: servers (none: the embedded broker), security, and secrets.

Secrets stay ``SecretStr`` from the TOML file or the environment to the client
options, so they never appear in a repr, a log line or ``config show``.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, SecretStr, field_validator, model_validator

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

class KafkaSettings(BaseModel):
    """How to reach Kafka. No bootstrap servers means: start the embedded broker.

    Secrets come from the environment, the TOML file or a file of their own
    (``*_file``: Docker/Kubernetes secrets); they are ``SecretStr`` so they never
    appear in a repr, a log line or ``config show``.
    """

    bootstrap_servers: str = ""  # "host:port,host:port"; plain text so env vars need no JSON
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None  # for an encrypted ``ssl_keyfile``
    ssl_key_password_file: Path | None = None
    ssl_check_hostname: bool = True

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _join_servers(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return value

    @model_validator(mode="after")
    def _secrets_from_files(self) -> KafkaSettings:
        for name in ("sasl_password", "ssl_key_password"):
            path: Path | None = getattr(self, f"{name}_file")
            if path is None:
                continue
            try:
                secret = path.read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(f"kafka.{name}_file {path}: {exc.strerror or exc}") from None
            given: SecretStr | None = getattr(self, name)
            if given is not None and given.get_secret_value() != secret:
                raise ValueError(f"kafka.{name} and kafka.{name}_file are both set and differ")
            setattr(self, name, SecretStr(secret))
        return self

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap_servers.split(",") if s.strip()]

    @property
    def embedded(self) -> bool:
        """True when no cluster is configured and an embedded broker must be started."""
        return not self.servers

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol.endswith("SSL")

    def _sasl_options(self) -> dict[str, Any]:
        if not self.security_protocol.startswith("SASL"):
            return {}
        return {
            "sasl_mechanism": self.sasl_mechanism or "PLAIN",
            "sasl_plain_username": self.sasl_username,  # SCRAM uses the same two options
            "sasl_plain_password": (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            ),
        }

    def client_options(self) -> dict[str, Any]:
        """Security options in kafka-python's spelling (replay producer, admin client)."""
        opts: dict[str, Any] = {"security_protocol": self.security_protocol, **self._sasl_options()}
        if self.uses_ssl:
            for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
                value = getattr(self, key)
                if value is not None:
                    opts[key] = str(value)
            if self.ssl_key_password is not None:
                opts["ssl_password"] = self.ssl_key_password.get_secret_value()
            opts["ssl_check_hostname"] = self.ssl_check_hostname
        return opts

    def aio_client_options(self) -> dict[str, Any]:
        """The same options in aiokafka's spelling: TLS goes in as one ``SSLContext``."""
        opts: dict[str, Any] = {"security_protocol": self.security_protocol, **self._sasl_options()}
        if self.uses_ssl:
            opts["ssl_context"] = self.ssl_context()
        return opts

    def ssl_context(self) -> ssl.SSLContext:
        """CA, client certificate and hostname check as one context (aiokafka, Faust)."""
        context = ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None
        )
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_certfile:
            context.load_cert_chain(
                str(self.ssl_certfile),
                str(self.ssl_keyfile) if self.ssl_keyfile else None,
                self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
            )
        return context
