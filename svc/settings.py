"""Service settings, read once from the environment and `.env`."""

import sys
from typing import Literal

from pydantic import Field, PostgresDsn, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    log_level: LogLevel = "INFO"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @model_validator(mode="after")
    def _pool_bounds(self) -> "Settings":
        if self.pool_max < self.pool_min:
            raise ValueError(f"POOL_MAX ({self.pool_max}) must be at least POOL_MIN ({self.pool_min})")
        return self


def describe(error: ValidationError) -> str:
    """One line per invalid variable, named as it is set in the environment."""
    lines = []
    for item in error.errors():
        name = "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"invalid setting {name}: {message}" if name else f"invalid settings: {message}")
    return "; ".join(lines)


def load() -> Settings:
    """Read the settings, or stop the process with one clear line."""
    try:
        return Settings()
    except ValidationError as error:
        sys.exit(describe(error))
