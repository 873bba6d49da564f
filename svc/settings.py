"""Service settings, read once from the environment and `.env`."""

import difflib
import ipaddress
import os
import sys
from pathlib import Path
from typing import Literal

import psycopg2.extensions
from pydantic import Field, PostgresDsn, PrivateAttr, SecretStr, ValidationError, field_validator, model_validator
from dotenv import dotenv_values  # the parser pydantic-settings reads .env with (its dependency)
from pydantic_settings import BaseSettings, SettingsConfigDict

from wire import principals

LogLevel = Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"]


class Settings(BaseSettings):
    """Every knob of the service, each described here once: `.env.example` and the README's configuration table
    say the same, as `settings_test.py` checks."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: PostgresDsn = Field(
        default=PostgresDsn("postgresql://config:config@127.0.0.1:5432/config_service"),
        description="The PostgreSQL database; `make db-up` creates its user and database (on its own cluster or "
                    "Docker's; on another server, its database if the user may). With several hosts "
                    "(`postgresql://user:password@host1:5432,host2:5432/name`), the service uses the one that is "
                    "the primary. Its options (`?sslmode=...`) are checked at start-up.")
    pool_min: int = Field(default=4, ge=0, le=1000, description=(
        "Connections kept open at least: opened at start-up, and again within a second once a restart or a "
        "failover dropped them."))
    pool_max: int = Field(default=16, ge=1, le=1000, description=(
        "Connections open at most, each with a thread that runs its blocking calls, except up to half of them that "
        "the event loop drives for the PUTs' writes; a connection opened is kept while it works."))
    pool_acquire_timeout: float = Field(default=1.0, gt=0, le=60, description=(
        "Seconds a request waits for a free connection before it answers 503."))
    connect_timeout: int = Field(default=2, ge=1, le=60, description=(
        "Seconds to open a database connection, per host."))
    statement_timeout_ms: int = Field(default=5000, ge=1, le=3_600_000, description=(
        "PostgreSQL `statement_timeout` on every connection, in milliseconds (exceeded: 503); a unit of work still "
        "running two seconds past it has its connection cut from this side. Set in each connection's startup "
        "parameters, or in each transaction where a pool drops or refuses them."))
    lock_timeout_ms: int = Field(default=2000, ge=1, le=3_600_000, description=(
        "PostgreSQL `lock_timeout` on every connection, in milliseconds (exceeded: 503); set as "
        "STATEMENT_TIMEOUT_MS is."))
    require_if_match: bool = Field(default=False, description=(
        "`true`: PUT, PATCH, DELETE and restore without `If-Match` answer 428 instead of writing unconditionally "
        "(`If-None-Match: *`, create-only, will do instead: it is how an override is created). A change set's "
        "changes need `if_match` (or `if_none_match: \"*\"`) the same way, each but a creation."))
    allow_unsafe_durability: bool = Field(default=False, description=(
        "`true`: start even when the database runs with `fsync` or `synchronous_commit` off, which can lose "
        "acknowledged writes (throwaway test databases only)."))
    api_keys: SecretStr = Field(default=SecretStr(""), description=(
        "API keys, `name:scope:secret` comma-separated; scope `ro` (read-only), `rw` (read-write) or `admin` "
        "(read-write, and manages the keys of `/api/v1/keys`), on every application and environment; secrets of "
        f"{principals.MIN_SECRET} characters or more, without a comma or a line break (spaces around an entry are "
        "dropped). Empty, and no `API_KEYS_FILE`: the API is open, and start-up logs "
        "a warning saying so; while the database holds managed keys that work the service refuses to start instead "
        "(they would guard nothing)."))
    api_keys_file: Path | None = Field(default=None, description=(
        "A file of API keys, one `name:scope:secret` a line; with `API_KEYS` or alone."))
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576, description=(
        "The largest request body, in bytes; larger answers 413. An import's body holds the whole document: raise "
        "it for an application whose export is larger."))
    max_json_depth: int = Field(default=32, ge=2, le=200, description=(
        "The deepest nesting of a JSON body; deeper answers 422. A `config` or a `patch` in an import or a change "
        "set may nest as deep as in a body of its own."))
    max_config_keys: int = Field(default=1000, ge=1, le=1000, description=(
        "The most top-level keys of a `config`, up to the contract's own 1000 (lower it here); more answers 422."))
    body_timeout_seconds: float = Field(default=10.0, gt=0, le=3600, description=(
        "Seconds a request body may take to arrive, from the request's start; slower (or never ending) answers "
        "408 and the connection is closed."))
    cors_origins: str = Field(default="", description=(
        "Browser origins allowed by CORS, comma-separated; empty: CORS is off."))
    log_level: LogLevel = Field(default="INFO", description=(
        "`CRITICAL`, `ERROR`, `WARNING`, `INFO` or `DEBUG` (any case): the least level of a log line written. The "
        "access lines, one a request (who changed or deleted what, with the key), are `INFO`: `WARNING` or above "
        "drops them."))
    host: str = Field(default="127.0.0.1", description="The address the service listens on.")
    forwarded_allow_ips: str = Field(default="127.0.0.1,::1", description=(
        "The reverse proxies whose `X-Forwarded-For` is believed: addresses or networks (`10.0.0.0/8`), "
        "comma-separated; `*` alone: any peer (only where nothing but a proxy can reach the service); empty: none. "
        "A request through one of them is logged as from the client the header names (`client` on its access "
        "line), else as from the peer."))
    keep_alive_seconds: int = Field(default=5, ge=1, le=3600, description=(
        "Seconds a connection may stay idle, between requests or before its first, before the service closes it. "
        "Behind a load balancer that keeps connections to the service open, set it above the balancer's own idle "
        "timeout (an AWS ALB's: 60 s by default), so that the service never closes a connection the balancer is "
        "about to reuse (a 502)."))
    port: int = Field(default=8000, ge=1, le=65535, description="The port the service listens on.")
    workers: int = Field(default=1, ge=1, le=64, description=(
        "Worker processes, each with its own connections and read cache."))
    cache_max_bytes: int = Field(default=64 * 1_048_576, ge=0, le=64 * 1024 * 1_048_576, description=(
        "Bytes of answers each worker keeps in memory to answer reads (the least recently used leave first); 0: "
        "every read goes to the database."))
    max_waiters: int = Field(default=20_000, ge=0, le=1_000_000, description=(
        "Requests held waiting for a change (`wait`), per worker; past it, 503 with `Retry-After`. 0 holds none: "
        "every `wait` answers that 503."))
    max_waiters_per_key: int = Field(default=5_000, ge=0, le=1_000_000, description=(
        "Requests one managed key may hold waiting for a change, per worker (the settings' keys are bounded by "
        "`MAX_WAITERS` only); past it, 429 with `Retry-After`, so that one key cannot take every slot from the "
        "others. 0: no managed key's `wait` is held."))
    max_wait_seconds: float = Field(default=300, gt=0, le=300, description=(
        "The longest a request is held, whatever `wait` it asks; keep it under the idle timeout of any load "
        "balancer or proxy in front (many default to 60 s, and cut a request held longer)."))
    shutdown_grace_seconds: int = Field(default=10, ge=0, le=600, description=(
        "Seconds in-flight requests get to finish after SIGTERM before the service stops (held requests answer "
        "304 at once); one still running then answers 503, a change's outcome unknown."))

    _keys: tuple[principals.ApiKey, ...] = PrivateAttr(default=())

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_any_case(cls, level: object) -> object:
        return level.upper() if isinstance(level, str) else level  # `info`, as Python's logging and uvicorn take it

    @field_validator("database_url", mode="before")
    @classmethod
    def _libpq_scheme(cls, url: object) -> object:
        # PostgresDsn also takes SQLAlchemy's driver schemes (postgresql+psycopg://...), which libpq refuses, at
        # start-up and quoting the whole URL, password included: refused here, in a line that quotes nothing.
        if str(url).partition("://")[0] not in ("postgresql", "postgres"):
            raise ValueError("must start with postgresql:// (libpq's form, without a driver such as +psycopg)")
        return url

    @field_validator("database_url", mode="after")
    @classmethod
    def _libpq_options(cls, url: PostgresDsn) -> PostgresDsn:
        # libpq parses the URL's options only when it connects: one it does not know, or a value it refuses
        # (`?sslmode=bogus`), failed every connection, and the service ran answering 503 as in an outage.
        try:
            options = psycopg2.extensions.parse_dsn(str(url))
        except psycopg2.ProgrammingError as error:
            unknown = str(error).partition("invalid URI query parameter: ")[2].strip()
            raise ValueError(f"libpq does not know the option {unknown}" if unknown else
                             "libpq cannot parse it (not quoted here: it holds the password)") from None
        for option, allowed in LIBPQ_CHOICES.items():
            if option in options and options[option] not in allowed:
                raise ValueError(f"?{option} must be one of {', '.join(allowed)}")
        return url

    @model_validator(mode="after")
    def _pool_bounds(self) -> "Settings":
        if self.pool_max < self.pool_min:
            raise ValueError(f"POOL_MAX ({self.pool_max}) must be at least POOL_MIN ({self.pool_min})")
        return self

    @model_validator(mode="after")
    def _read_keys(self) -> "Settings":
        try:
            self._keys = principals.load(self.api_keys.get_secret_value(), self.api_keys_file)
        except OSError as error:
            raise ValueError(f"API_KEYS_FILE cannot be read: {error.strerror}") from None
        except ValueError as error:
            raise ValueError(f"API_KEYS: {error}") from None
        return self

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        """The list as uvicorn's proxy headers middleware reads it, each entry checked as it would take it: `*` only
        alone (among others it is a name no peer has), a network without host bits (`10.0.0.5/24` it would keep
        as a name no peer has, trusting nothing)."""
        entries = [entry for entry in (item.strip() for item in value.split(",")) if entry]
        if "*" in entries:
            if len(entries) > 1:
                raise ValueError("`*` (any peer) stands alone, without addresses or networks beside it")
            return "*"
        for entry in entries:
            try:
                ipaddress.ip_network(entry)
            except ValueError as error:
                raise ValueError(f"{entry!r} is not an address or a network (such as 10.0.0.0/8): {error}") from None
        return ",".join(entries)

    @property
    def keys(self) -> tuple[principals.ApiKey, ...]:
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


# Read from .env by `docker compose` run by hand (svc/docker-compose.yml), not by the service: name -> (default,
# description). `make db-up` passes compose the parts of DATABASE_URL instead.
# The values libpq (16, psycopg2's) takes for the options of a URL that have a fixed set (its "Connection
# Parameters"): checked at start-up, where libpq would refuse them at every connection.
LIBPQ_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": ("any", "read-write", "read-only", "primary", "standby", "prefer-standby"),
    "load_balance_hosts": ("disable", "random"),
    "sslcertmode": ("disable", "allow", "require"),
}
COMPOSE_KEYS = {
    "POSTGRES_USER": ("config", "The user `docker compose up` creates, when run by hand (`make db-up` takes it from "
                                "`DATABASE_URL`)."),
    "POSTGRES_PASSWORD": ("config", "The password `docker compose up` gives that user, when run by hand (`make db-up` "
                                    "takes it from `DATABASE_URL`)."),
    "POSTGRES_DB": ("config_service", "The database `docker compose up` creates, when run by hand (`make db-up` "
                                      "takes it from `DATABASE_URL`)."),
    "POSTGRES_PORT": ("5432", "The port on 127.0.0.1 `docker compose up` publishes PostgreSQL on, when run by hand "
                              "(`make db-up` takes it from `DATABASE_URL`)."),
}
# Settings no longer read, and why: accepted in .env with a warning, so that an upgrade does not stop start-up.
RETIRED = {"EXECUTOR_WORKERS": "the pool runs one thread per connection (POOL_MAX)"}


def known_keys() -> list[str]:
    return [name.upper() for name in Settings.model_fields] + list(COMPOSE_KEYS) + list(RETIRED)


def retired(env_file: Path) -> list[str]:
    """One line for each retired setting set in the environment or in `env_file`."""
    present = set(os.environ) | ({key.upper() for key in dotenv_values(env_file)} if env_file.is_file() else set())
    return [f"{key} is no longer read ({why}): remove it" for key, why in RETIRED.items() if key in present]


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
    env_file = Path(Settings.model_config["env_file"])
    unknown = unknown_key(env_file)
    if unknown:
        sys.exit(unknown)
    for line in retired(env_file):
        print(line, file=sys.stderr)
    try:
        return Settings()
    except ValidationError as error:
        sys.exit(describe(error))
