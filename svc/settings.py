"""Service settings, read once from the environment and `.env`."""

import difflib
import sys
from pathlib import Path
from typing import Literal

from pydantic import Field, PostgresDsn, PrivateAttr, SecretStr, ValidationError, model_validator
from dotenv import dotenv_values  # the parser pydantic-settings reads .env with (its dependency)
from pydantic_settings import BaseSettings, SettingsConfigDict

from middleware import auth

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]


class Settings(BaseSettings):
    """Every knob of the service; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: PostgresDsn = PostgresDsn("postgresql://config:config@127.0.0.1:5432/config_service")
    pool_min: int = Field(default=4, ge=0, le=1000)
    pool_max: int = Field(default=16, ge=1, le=1000)
    executor_workers: int = Field(default=16, ge=1, le=1000)
    pool_acquire_timeout: float = Field(default=1.0, gt=0, le=60)
    connect_timeout: int = Field(default=2, ge=1, le=60)
    statement_timeout_ms: int = Field(default=5000, ge=1, le=3_600_000)
    lock_timeout_ms: int = Field(default=2000, ge=1, le=3_600_000)
    require_if_match: bool = False
    # Start even when the database runs with fsync or synchronous_commit off (tests only: it can lose commits).
    allow_unsafe_durability: bool = False
    # API keys: "name:rw:secret,name:ro:secret" and/or a file of such lines. None: the API is open.
    api_keys: SecretStr = SecretStr("")
    api_keys_file: Path | None = None
    # Input limits.
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    max_json_depth: int = Field(default=32, ge=2, le=200)
    max_config_keys: int = Field(default=1000, ge=1, le=100_000)
    # Seconds a request body may take to arrive, from the request's start; slower: 408, connection closed.
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=3600)
    # Browser origins allowed by CORS, comma-separated; empty: CORS is off.
    cors_origins: str = ""
    log_level: LogLevel = "INFO"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    # Bytes of answers each worker keeps in memory to answer reads (cache.py); 0: every read goes to the database.
    cache_max_bytes: int = Field(default=64 * 1_048_576, ge=0, le=64 * 1024 * 1_048_576)
    # Requests held waiting for a change (`wait`), per worker; past it, 503.
    max_waiters: int = Field(default=20_000, ge=0, le=1_000_000)
    # The longest a request is held, whatever `wait` it asks (keep it under a load balancer's idle timeout).
    max_wait_seconds: float = Field(default=300, gt=0, le=300)
    # Seconds in-flight requests get to finish after SIGTERM.
    shutdown_grace_seconds: int = Field(default=10, ge=0, le=600)

    _keys: tuple[auth.ApiKey, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _pool_bounds(self) -> "Settings":
        if self.pool_max < self.pool_min:
            raise ValueError(f"POOL_MAX ({self.pool_max}) must be at least POOL_MIN ({self.pool_min})")
        return self

    @model_validator(mode="after")
    def _read_keys(self) -> "Settings":
        try:
            self._keys = auth.load(self.api_keys.get_secret_value(), self.api_keys_file)
        except OSError as error:
            raise ValueError(f"API_KEYS_FILE cannot be read: {error.strerror}") from None
        except ValueError as error:
            raise ValueError(f"API_KEYS: {error}") from None
        return self

    @property
    def keys(self) -> tuple[auth.ApiKey, ...]:
        """The configured API keys; empty when the API is open."""
        return self._keys

    @property
    def origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


def describe(error: ValidationError) -> str:
    """One line per invalid variable, named as it is set in the environment."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"invalid setting {name}: {message}" if name else f"invalid settings: {message}")
    return "; ".join(lines)


# Read from .env by docker compose (svc/docker-compose.yml), not by the service.
COMPOSE_KEYS = ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_PORT")


def known_keys() -> list[str]:
    return [name.upper() for name in Settings.model_fields] + list(COMPOSE_KEYS)


def unknown_key(env_file: Path) -> str | None:
    """One line about the first key of `env_file` that is no setting (a typo would otherwise leave the default in
    place silently), naming the closest known one; None when every key is known or there is no file."""
    if not env_file.is_file():
        return None
    known = known_keys()
    for key in dotenv_values(env_file):
        if key.upper() not in known:
            close = difflib.get_close_matches(key.upper(), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]}?" if close else "no setting is named like it (see .env.example)"
            return f"unknown setting {key} in {env_file}: {hint}"
    return None


def load() -> Settings:
    """Read the settings, or stop the process with one clear line."""
    unknown = unknown_key(Path(Settings.model_config["env_file"]))
    if unknown:
        sys.exit(unknown)
    try:
        return Settings()
    except ValidationError as error:
        sys.exit(describe(error))
