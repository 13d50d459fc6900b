"""One typed settings object for the whole server.

Values come from (highest first): explicit keyword arguments, environment
variables prefixed ``HOTLINE_`` (nested with ``__``, e.g. ``HOTLINE_AMI__HOST``),
an optional YAML file named by ``HOTLINE_CONFIG``, then the defaults below.
Booleans and durations are parsed strictly: ``"false"`` is false, ``"yes please"``
is an error, ``"90s"``/``"2m"``/``"1h"``/``"250ms"`` are durations in seconds.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEV_SECRET = "dev-only-secret-change-me"
DEV_AMI_SECRET = "ivrsecret"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_bool(value: Any) -> bool:
    """Strict boolean: true/false/yes/no/on/off/1/0 (any case); anything else is an error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    raise ValueError(f"not a boolean: {value!r} (use true/false, yes/no, on/off, 1/0)")


def parse_duration(value: Any) -> float:
    """Strict duration in seconds: a number, or a number with ms/s/m/h/d."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"negative duration: {value!r}")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNITS[m.group(2)]
    raise ValueError(f"not a duration: {value!r} (e.g. 30, 30s, 250ms, 5m, 1h)")


StrictBool = Annotated[bool, BeforeValidator(parse_bool)]
Duration = Annotated[float, BeforeValidator(parse_duration)]


class AmiSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "ivr"
    secret: str = DEV_AMI_SECRET
    connect_timeout: Duration = 5.0
    action_timeout: Duration = 10.0
    ping_interval: Duration = 5.0
    pong_timeout: Duration = 3.0
    reconnect_initial: Duration = 0.5
    reconnect_max: Duration = 30.0
    event_queue_size: int = Field(100_000, ge=100)

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        v = v.strip()
        if not v or not re.fullmatch(r"[A-Za-z0-9.\-:\[\]_]+", v):
            raise ValueError(f"not a host name or address: {v!r}")
        return v


class DatabaseSettings(BaseModel):
    url: str = "sqlite+aiosqlite:///./var/hotline.db"
    echo: StrictBool = False
    pool_size: int = Field(10, ge=1)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {v!r}") from exc
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {url.get_backend_name()!r} (sqlite or postgresql)")
        if url.get_backend_name() == "sqlite" and url.drivername != "sqlite+aiosqlite":
            raise ValueError("SQLite URLs must use the async driver: sqlite+aiosqlite:///path")
        if url.get_backend_name() == "postgresql" and url.drivername != "postgresql+asyncpg":
            raise ValueError("PostgreSQL URLs must use the async driver: postgresql+asyncpg://...")
        return v


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8345, ge=0, le=65535)
    token_ttl: Duration = 8 * 3600.0
    cors_origins: list[str] = []


class AsrSettings(BaseModel):
    model_path: Path = Path("var/models/vosk-model-small-cn-0.22")
    model_url: str = "https://alphacephei.com/vosk/models/vosk-model-small-cn-0.22.zip"
    download_model: StrictBool = False
    audiosocket_host: str = "127.0.0.1"
    audiosocket_port: int = Field(9092, ge=0, le=65535)
    workers: int = Field(2, ge=1)
    sample_rate: int = 8000
    require_model: StrictBool = False

    @model_validator(mode="after")
    def _model_readable(self) -> "AsrSettings":
        if self.require_model:
            p = self.model_path
            if not p.is_dir() or not os.access(p, os.R_OK):
                raise ValueError(f"ASR model path {str(p)!r} is not a readable directory")
        return self


class IvrSettings(BaseModel):
    flows_dir: Path = Path("flows")
    prompts_dir: Path = Path("flows/prompts")
    # Where Asterisk finds the prompts, as STREAM FILE names them: "" plays the
    # absolute path of prompts_dir (Asterisk on the same file system, the simulator);
    # "hotline" plays hotline/<name> from Asterisk's sounds directory (docker-compose
    # mounts flows/prompts there).
    asterisk_prompts: str = ""
    agi_timeout: Duration = 30.0
    timezone: str = "Asia/Shanghai"


class RouterSettings(BaseModel):
    service_level_target: Duration = 20.0
    service_level_goal: float = Field(0.8, gt=0, le=1)
    wrapup_default: Duration = 10.0
    ring_timeout: Duration = 15.0
    callback_offer_wait: Duration = 120.0
    interval: Duration = 900.0


class SimulatorSettings(BaseModel):
    enabled: StrictBool = False
    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    callers_per_minute: float = Field(20.0, ge=0)
    agents: int = Field(8, ge=0)
    seed: int = 12345
    recordings_dir: Path = Path("var/recordings")
    speech_dir: Path = Path("../shared/testdata/asr/synthetic")


class RecordingSettings(BaseModel):
    dir: Path = Path("var/recordings")
    format: Literal["wav"] = "wav"


class RuntimeSettings(BaseModel):
    """The Python runtime under the server (see hotline/runtime.py for why)."""

    # after start-up, move what is alive into the collector's permanent generation
    gc_freeze: StrictBool = True
    # the collector's thresholds: CPython's young generations, full collections 100x rarer
    gc_thresholds: tuple[Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)], Annotated[int, Field(ge=1)]] = (
        700, 10, 1000)
    # how often the event loop's lateness is probed (0 turns the probe off)
    loop_lag_interval: Duration = 0.25


class Settings(BaseSettings):
    """Everything configurable, in one place."""

    model_config = SettingsConfigDict(
        env_prefix="HOTLINE_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_default=True,
    )

    mode: Literal["development", "production"] = "development"
    secret_key: str = DEV_SECRET
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: StrictBool = False
    data_dir: Path = Path("var")
    ami: AmiSettings = AmiSettings()
    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    asr: AsrSettings = AsrSettings()
    ivr: IvrSettings = IvrSettings()
    router: RouterSettings = RouterSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    recordings: RecordingSettings = RecordingSettings()
    runtime: RuntimeSettings = RuntimeSettings()

    @model_validator(mode="after")
    def _no_default_secrets_in_production(self) -> "Settings":
        if self.mode == "production":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise ValueError("secret_key must be set to a random value of 32+ characters in production")
            if self.ami.secret == DEV_AMI_SECRET:
                raise ValueError("ami.secret still has its development default; set HOTLINE_AMI__SECRET")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlFileSource(settings_cls))


class _YamlFileSource(PydanticBaseSettingsSource):
    """Reads the optional YAML file named by HOTLINE_CONFIG."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = os.environ.get("HOTLINE_CONFIG")
        if not path:
            return {}
        from ruamel.yaml import YAML

        try:
            with open(path, encoding="utf-8") as fh:
                data = YAML(typ="safe").load(fh) or {}
        except OSError as exc:
            raise SettingsError(f"config file {path}: {exc.strerror}") from exc
        if not isinstance(data, dict):
            raise SettingsError(f"config file {path}: top level must be a mapping")
        return data


class SettingsError(Exception):
    """Configuration is invalid; the message is one line for the operator."""


def load_settings(**overrides: Any) -> Settings:
    """Build and validate settings; raise SettingsError with one line per problem."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".") or "settings"
            names = [str(p).upper() for p in err["loc"] if not isinstance(p, int)]  # an item of a list shares its env
            env = "HOTLINE_" + "__".join(names) if names else ""
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{where}: {msg}" + (f" (env {env})" if env else ""))
        raise SettingsError("invalid configuration: " + "; ".join(lines)) from None
