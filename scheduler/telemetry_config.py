"""The `[telemetry]` table of a bench file: broker, credentials, TLS, control, buffer.

Kept apart from `scheduler.telemetry` so that reading a bench file does not load the MQTT
client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scheduler.errors import SchedulerError, explain


class TelemetryConfig(BaseModel):
    """The ``[telemetry]`` table of a bench file. Empty strings mean "not set"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    broker: str = "mqtt://127.0.0.1:1883"
    username: str = ""
    password_env: str = ""
    ca_file: str = ""
    client_id: str = ""
    control: bool = False
    buffer: int = Field(default=10_000, ge=1, le=10_000_000)
    keepalive: int = Field(default=30, ge=5, le=3600)
    reconnect_min_s: float = Field(default=0.5, gt=0, le=60)
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600)
    publish_timeout_s: float = Field(default=10.0, gt=0, le=300)

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker {url!r} must start with mqtt:// or mqtts://")
        if parts.password is not None:
            raise ValueError(
                "put the broker password in the environment variable named by password_env, "
                "not in the broker URL"
            )
        if not parts.hostname:
            raise ValueError(f"broker {url!r} names no host (e.g. mqtt://127.0.0.1:1883)")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError(f"broker {url!r} must be only scheme, host and port")
        try:
            parts.port  # noqa: B018 - raises on an out-of-range port
        except ValueError:
            raise ValueError(f"broker {url!r} has an invalid port") from None
        return url

    @field_validator("password_env")
    @classmethod
    def _check_password_env(cls, name: str) -> str:
        if name and not name.replace("_", "a").isalnum():
            raise ValueError(
                f"password_env must be the name of an environment variable, not {name!r}"
            )
        return name

    @model_validator(mode="after")
    def _check_combination(self) -> TelemetryConfig:
        if self.control and not self.username:
            raise ValueError(
                "control = true needs a username (MQTT control is refused on an "
                "unauthenticated broker)"
            )
        if self.ca_file and not self.tls:
            raise ValueError("ca_file needs an mqtts:// broker")
        if self.password_env and not self.username:
            raise ValueError("password_env is set but username is empty")
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be smaller than reconnect_min_s")
        return self

    @classmethod
    def from_bench_table(
        cls, table: Mapping[str, Any] | BaseModel, *, where: str = "[telemetry]"
    ) -> TelemetryConfig:
        """Validate a bench file's ``[telemetry]`` table; one SchedulerError sentence if wrong.

        Takes the raw TOML table or an already parsed model of it (``bench.telemetry``).
        """
        data = table.model_dump() if isinstance(table, BaseModel) else dict(table)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise SchedulerError(f"Bench file {where}: {explain(exc)}.") from None

    @property
    def tls(self) -> bool:
        return urlsplit(self.broker).scheme == "mqtts"

    @property
    def host(self) -> str:
        return urlsplit(self.broker).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.broker).port or (8883 if self.tls else 1883)

    def password(self) -> str | None:
        """Read the password from the environment now (never stored in the bench file)."""
        if not self.password_env:
            return None
        value = os.environ.get(self.password_env)
        if value is None:
            raise SchedulerError(
                f"Environment variable {self.password_env}, named by [telemetry] password_env, "
                "is not set."
            )
        return value
