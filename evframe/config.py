"""The configuration model and its loader.

A config is one TOML file (``evframe.toml`` by default) plus environment variables for the
site and the secrets.  :func:`load_config` reads and validates everything at once and returns
frozen :class:`Config` objects; every problem is a :class:`ConfigError` whose message names the
dotted key (or the environment variable) and the file.  Secret values (API keys, the SMTP
password) never appear in a ``repr``, an error message or — through :func:`redact` and the
logging filter — a log line.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from evframe.errors import EvframeError
from evframe.redact import mask_proxy, proxy_password

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    # mypy checks this branch (python_version = 3.10) where tomli may not be installed.
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "EmailConfig",
    "HandlerConfig",
    "LoggingConfig",
    "SiteConfig",
    "handler_api_key_env",
    "load_config",
]

DEFAULT_CONFIG_NAME: Final = "evframe.toml"

ENV_SITE_URL: Final = "EVFRAME_SITE_URL"
ENV_SCRIPT_NAME: Final = "EVFRAME_SCRIPT_NAME"
ENV_API_KEY: Final = "EVFRAME_API_KEY"
ENV_SMTP_PASSWORD: Final = "EVFRAME_SMTP_PASSWORD"

LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ON_ERROR_POLICIES: Final = ("stop", "skip", "retry")
RETRY_FALLBACKS: Final = ("stop", "skip")

# Keys whose values are never echoed in an error message.
_SECRET_KEYS: Final = frozenset({"api_key", "password"})

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class ConfigError(EvframeError):
    """A config problem.

    The message names the key (e.g. ``daemon.batch_size: expected an integer between 1 and
    5000, got "abc"``) and the file.  ``key`` is the dotted key (``None`` for problems with
    the file as a whole), ``path`` the file, ``detail`` the message without key and file.
    """

    def __init__(
        self, detail: str, *, key: str | None = None, path: str | os.PathLike[str] | None = None
    ) -> None:
        self.detail = detail
        self.key = key
        self.path = Path(path) if path is not None else None
        message = f"{key}: {detail}" if key else detail
        if self.path is not None:
            message = f"{message} (in {self.path})"
        super().__init__(message)


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class SiteConfig:
    """How to reach the Flow Production Tracking site (``[site]``).

    ``url`` ``None`` means no site is configured: the daemon runs an embedded sandbox.
    ``api_key`` comes from ``EVFRAME_API_KEY``, from the variable named by ``api_key_env``
    or (discouraged) a literal ``api_key``; it is never shown by ``repr``.
    """

    url: str | None = None
    script_name: str | None = None
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    http_proxy: str | None = None
    ca_certs: str | None = None

    def __repr__(self) -> str:
        # Hand-written so a password inside http_proxy ("user:pass@host:port") is masked too.
        return (
            f"SiteConfig(url={self.url!r}, script_name={self.script_name!r}, "
            f"timeout={self.timeout!r}, http_proxy={mask_proxy(self.http_proxy)!r}, "
            f"ca_certs={self.ca_certs!r})"
        )


@dataclass(frozen=True)
class HandlerConfig:
    """Per-handler settings (``[handlers.NAME]``).

    ``config`` holds the free options of ``[handlers.NAME.config]``, read-only (nested tables
    are read-only mappings, arrays are tuples); handlers see it as ``ctx.config``.
    ``script_name``/``api_key`` give the handler its own credentials for ``ctx.sg``.
    ``pass_session_uuid`` makes ``ctx.sg`` carry the event's ``session_uuid``, so the
    changes the handler makes show up live in the web page of the user who caused it.
    """

    name: str
    enabled: bool = True
    on_error: str | None = None
    retry_attempts: int = 3
    retry_backoff: float = 1.0
    retry_max_backoff: float = 60.0
    retry_fallback: str = "stop"
    script_name: str | None = None
    api_key: str | None = field(default=None, repr=False)
    config: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    pass_session_uuid: bool = False


@dataclass(frozen=True)
class DaemonConfig:
    """Settings of ``evframe serve`` (``[daemon]``); ``state`` is an absolute path."""

    state: str = "evframe-state.db"
    group: str = "evframe.handlers"
    batch_size: int = 500
    poll_interval: float = 0.5
    active_poll_interval: float = 0.05
    start: str | int = "latest"
    gap_timeout: float = 300.0
    max_gap: int = 10000
    commit_interval: float = 1.0
    reload_interval: float = 5.0
    site_error_after: float = 300.0
    max_followups: int = 1000


@dataclass(frozen=True)
class EmailConfig:
    """Error mail (``[logging.email]``): records at ERROR and above are mailed.

    ``sender`` is the TOML key ``from``.  ``tls`` means STARTTLS, ``ssl`` an SMTP-over-TLS
    connection (usually port 465).  ``password`` is never shown by ``repr``.
    """

    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 25
    tls: bool = False
    ssl: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    subject: str = "evframe error"
    timeout: float = 10.0


@dataclass(frozen=True)
class LoggingConfig:
    """Log sinks and levels (``[logging]``); ``file`` is an absolute path or ``None``."""

    level: str = "INFO"
    file: str | None = None
    max_bytes: int = 10_000_000
    backup_count: int = 5
    json: bool = False
    email: EmailConfig | None = None
    handlers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True)
class Config:
    """A whole configuration; ``path`` is the file it came from (``None``: defaults only)."""

    path: Path | None = None
    site: SiteConfig = field(default_factory=SiteConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    handlers: Mapping[str, HandlerConfig] = field(default_factory=lambda: _EMPTY)

    def handler(self, name: str) -> HandlerConfig:
        """The configured settings of handler ``name``, or the defaults for it."""
        configured = self.handlers.get(name)
        return configured if configured is not None else HandlerConfig(name)

    def secrets(self) -> list[str]:
        """Every non-empty secret value in this config, longest first, without duplicates."""
        found: set[str] = set()
        if self.site.api_key:
            found.add(self.site.api_key)
        password = proxy_password(self.site.http_proxy)
        if password:
            found.add(password)
        for handler in self.handlers.values():
            if handler.api_key:
                found.add(handler.api_key)
        email = self.logging.email
        if email is not None and email.password:
            found.add(email.password)
        # Longest first so a secret containing another one is replaced whole.
        return sorted(found, key=lambda s: (-len(s), s))


def handler_api_key_env(name: str) -> str:
    """The environment variable holding handler ``name``'s API key.

    ``EVFRAME_HANDLER_<NAME>_API_KEY`` with the name upper-cased and every character other
    than an ASCII letter or digit replaced by ``_`` (``shot-rollup`` -> ``SHOT_ROLLUP``).
    """
    return f"EVFRAME_HANDLER_{re.sub(r'[^A-Za-z0-9]', '_', name).upper()}_API_KEY"


# --------------------------------------------------------------------------- the loader

_SITE_KEYS: Final = (
    "url",
    "script_name",
    "api_key",
    "api_key_env",
    "timeout",
    "http_proxy",
    "ca_certs",
)
_DAEMON_KEYS: Final = (
    "state",
    "group",
    "batch_size",
    "poll_interval",
    "active_poll_interval",
    "start",
    "gap_timeout",
    "max_gap",
    "commit_interval",
    "reload_interval",
    "site_error_after",
    "max_followups",
)
_LOGGING_KEYS: Final = ("level", "file", "max_bytes", "backup_count", "json", "email", "handlers")
_EMAIL_KEYS: Final = (
    "host",
    "port",
    "tls",
    "ssl",
    "username",
    "password",
    "password_env",
    "from",
    "to",
    "subject",
    "timeout",
)
_HANDLER_KEYS: Final = (
    "enabled",
    "on_error",
    "retry_attempts",
    "retry_backoff",
    "retry_max_backoff",
    "retry_fallback",
    "script_name",
    "api_key",
    "api_key_env",
    "config",
    "pass_session_uuid",
)
_TOP_KEYS: Final = ("site", "daemon", "logging", "handlers")

# Where each key lives, to say "this key belongs in [daemon]" when one is misplaced.
_HOME_OF: Final[Mapping[str, str]] = {
    **{k: "handlers.NAME" for k in _HANDLER_KEYS},
    **{k: "logging.email" for k in _EMAIL_KEYS},
    **{k: "logging" for k in _LOGGING_KEYS},
    **{k: "site" for k in _SITE_KEYS},
    **{k: "daemon" for k in _DAEMON_KEYS},
}

_MISSING: Final = object()


def _show(value: object) -> str:
    """A value as it would be written in TOML, shortened, for an error message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        return text if len(text) <= 80 else text[:76] + '..."'
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return f"{value!r} ({type(value).__name__})"


class _Table:
    """One TOML table being read: checks its keys and converts its values, naming them."""

    def __init__(
        self,
        data: Mapping[str, Any],
        prefix: str,
        path: Path | None,
        allowed: Sequence[str],
    ) -> None:
        self.data = data
        self.prefix = prefix
        self.path = path
        for key in data:
            if key not in allowed:
                raise self.unknown(key, allowed)

    def dotted(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str, detail: str) -> ConfigError:
        return ConfigError(detail, key=self.dotted(key), path=self.path)

    def unknown(self, key: str, allowed: Sequence[str]) -> ConfigError:
        detail = "unknown key"
        close = difflib.get_close_matches(key, allowed, n=1)
        if close:
            detail += f"; did you mean {close[0]!r}?"
        else:
            home = _HOME_OF.get(key)
            if home is not None:
                detail += f"; it belongs in [{home}]"
        where = f"[{self.prefix}]" if self.prefix else "the top level"
        detail += f" (allowed in {where}: {', '.join(allowed)})"
        return self.error(key, detail)

    def has(self, key: str) -> bool:
        return key in self.data

    def bad(self, key: str, expected: str, value: object) -> ConfigError:
        shown = "<hidden>" if key in _SECRET_KEYS else _show(value)
        return self.error(key, f"expected {expected}, got {shown}")

    def table(self, key: str) -> Mapping[str, Any] | None:
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            return None
        if not isinstance(value, dict):
            raise self.bad(key, "a table", value)
        return value

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.data.get(key, _MISSING)
        if value is _MISSING:
            return default
        if not isinstance(value, str) or not value:
            raise self.bad(key, "a non-empty string", value)
        return value

    def choice(self, key: str, choices: Sequence[str], default: str | None) -> str | None:
        value = self.string(key, default)
        if value is None or value in choices:
            return value
        return self._bad_choice(key, value, choices)

    def _bad_choice(self, key: str, value: str, choices: Sequence[str]) -> str:
        options = " or ".join(json.dumps(c) for c in choices)
        detail = f"expected {options}, got {_show(value)}"
        by_lower = {c.lower(): c for c in choices}
        close = difflib.get_close_matches(value.lower(), list(by_lower), n=1)
        if close:
            detail += f"; did you mean {by_lower[close[0]]!r}?"
        raise self.error(key, detail)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.bad(key, "true or false", value)
        return value

    def integer(
        self, key: str, default: int, *, lo: int | None = None, hi: int | None = None
    ) -> int:
        value = self.data.get(key, default)
        # bool is an int subclass; `batch_size = true` is a mistake, not 1.
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and ((lo is not None and value < lo) or (hi is not None and value > hi)):
            ok = False
        if not ok:
            raise self.bad(key, "an integer" + _range_text(lo, hi), value)
        assert isinstance(value, int)
        return value

    def number(
        self,
        key: str,
        default: float,
        *,
        gt: float | None = None,
        ge: float | None = None,
        le: float | None = None,
        unit: str = " (seconds)",
    ) -> float:
        value = self.data.get(key, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            number = float(value)
            ok = (
                math.isfinite(number)
                and (gt is None or number > gt)
                and (ge is None or number >= ge)
                and (le is None or number <= le)
            )
        if not ok:
            bounds = []
            if gt is not None:
                bounds.append(f"> {gt:g}")
            if ge is not None:
                bounds.append(f">= {ge:g}")
            if le is not None:
                bounds.append(f"<= {le:g}")
            expected = "a number" + (" " + " and ".join(bounds) if bounds else "") + unit
            raise self.bad(key, expected, value)
        return float(value)

    def path_value(self, key: str, default: str | None, base: Path) -> str | None:
        value = self.string(key, default)
        if value is None:
            return None
        return str(_resolve(value, base))


def _range_text(lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f" between {lo} and {hi}"
    if lo is not None:
        return f" >= {lo}"
    if hi is not None:
        return f" <= {hi}"
    return ""


def _resolve(value: str, base: Path) -> Path:
    """``value`` as an absolute path; relative paths are relative to ``base``."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _freeze(value: Any) -> Any:
    """A read-only copy of a TOML value: tables become mapping proxies, arrays tuples."""
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def load_config(
    path: str | os.PathLike[str] | None,
    env: Mapping[str, str] | None = None,
    *,
    required: bool = False,
) -> Config:
    """Read, validate and return the configuration.

    ``path`` ``None`` means ``./evframe.toml`` if it exists, else the defaults.  A missing
    file is an error when ``required`` is true, else the defaults are used.  ``env`` (default
    ``os.environ``) supplies ``EVFRAME_SITE_URL``, ``EVFRAME_SCRIPT_NAME``, ``EVFRAME_API_KEY``,
    ``EVFRAME_HANDLER_<NAME>_API_KEY``, ``EVFRAME_SMTP_PASSWORD`` and the variables named by
    ``*_env`` keys; empty variables count as unset.

    Raises :class:`ConfigError` naming the key (or variable) and the file for any problem.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    file = Path(path) if path is not None else Path(DEFAULT_CONFIG_NAME)
    data: Mapping[str, Any] = {}
    source: Path | None = None
    if file.exists():
        source = file.absolute()
        data = _read_toml(source)
    elif required:
        raise ConfigError("config file not found", path=file.absolute())
    base = source.parent if source is not None else Path.cwd()
    return _build(data, source, base, environ)


def _read_toml(path: Path) -> Mapping[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", path=path) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text: {exc}", path=path) from None
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The message carries "(at line L, column C)".
        raise ConfigError(f"invalid TOML: {exc}", path=path) from None
    return document


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    return value if value else None


def _build(
    data: Mapping[str, Any], source: Path | None, base: Path, environ: Mapping[str, str]
) -> Config:
    top = _Table(data, "", source, _TOP_KEYS)
    site = _load_site(_Table(top.table("site") or {}, "site", source, _SITE_KEYS), base, environ)
    daemon = _load_daemon(_Table(top.table("daemon") or {}, "daemon", source, _DAEMON_KEYS), base)
    logging_ = _load_logging(
        _Table(top.table("logging") or {}, "logging", source, _LOGGING_KEYS), base, environ
    )
    handlers: dict[str, HandlerConfig] = {}
    for name, value in (top.table("handlers") or {}).items():
        prefix = f"handlers.{name}"
        if not isinstance(value, dict):
            raise ConfigError(
                f"expected a table ([{prefix}]), got {_show(value)}", key=prefix, path=source
            )
        handlers[name] = _load_handler(name, _Table(value, prefix, source, _HANDLER_KEYS), environ)
    return Config(
        path=source,
        site=site,
        daemon=daemon,
        logging=logging_,
        handlers=MappingProxyType(handlers),
    )


def _secret(
    table: _Table,
    environ: Mapping[str, str],
    *,
    key: str,
    env_key: str,
    direct_env: str,
) -> str | None:
    """A secret: ``direct_env`` wins, then the variable named by ``env_key``, then ``key``."""
    if table.has(key) and table.has(env_key):
        raise table.error(key, f"set either {key} or {env_key}, not both")
    literal = table.string(key)
    indirect = table.string(env_key)
    direct = _env(environ, direct_env)
    if direct is not None:
        return direct
    if indirect is not None:
        value = _env(environ, indirect)
        if value is None:
            raise table.error(env_key, f"environment variable {indirect} is not set (or empty)")
        return value
    return literal


def _load_site(table: _Table, base: Path, environ: Mapping[str, str]) -> SiteConfig:
    url = table.string("url")
    env_url = _env(environ, ENV_SITE_URL)
    url_source = f"environment variable {ENV_SITE_URL}"
    if env_url is not None:
        url = env_url
    else:
        url_source = ""
    if url is not None and not url.startswith(("http://", "https://")):
        detail = f"expected a URL starting with http:// or https://, got {_show(url)}"
        if url_source:
            raise ConfigError(f"{detail} (from {url_source})", key=ENV_SITE_URL, path=table.path)
        raise table.error("url", detail)

    script_name = _env(environ, ENV_SCRIPT_NAME) or table.string("script_name")
    api_key = _secret(table, environ, key="api_key", env_key="api_key_env", direct_env=ENV_API_KEY)
    if url is not None:
        if script_name is None:
            raise table.error(
                "script_name",
                f"required when a site url is set (or set {ENV_SCRIPT_NAME})",
            )
        if api_key is None:
            raise table.error(
                "api_key",
                f"required when a site url is set: set {ENV_API_KEY}, "
                "or api_key_env to the name of a variable holding it",
            )
    proxy = table.string("http_proxy")
    return SiteConfig(
        url=url,
        script_name=script_name,
        api_key=api_key,
        timeout=table.number("timeout", 30.0, gt=0),
        http_proxy=proxy,
        ca_certs=table.path_value("ca_certs", None, base),
    )


def _load_daemon(table: _Table, base: Path) -> DaemonConfig:
    start_value = table.data.get("start", "latest")
    start: str | int
    if isinstance(start_value, str):
        choice = table.choice("start", ("latest", "earliest"), "latest")
        assert choice is not None
        start = choice
    else:
        ok = isinstance(start_value, int) and not isinstance(start_value, bool)
        if not ok or start_value < 0:
            raise table.bad("start", '"latest", "earliest" or an event id >= 0', start_value)
        start = start_value

    poll_interval = table.number("poll_interval", 0.5, ge=0.01)
    if table.has("active_poll_interval"):
        active = table.number("active_poll_interval", 0.05, ge=0.01, le=poll_interval)
    else:
        # The default must not trip the "<= poll_interval" rule for a fast idle poll.
        active = min(0.05, poll_interval)
    state = table.path_value("state", "evframe-state.db", base)
    group = table.string("group", "evframe.handlers")
    assert state is not None and group is not None
    return DaemonConfig(
        state=state,
        group=group,
        batch_size=table.integer("batch_size", 500, lo=1, hi=5000),
        poll_interval=poll_interval,
        active_poll_interval=active,
        start=start,
        gap_timeout=table.number("gap_timeout", 300.0, ge=0),
        max_gap=table.integer("max_gap", 10000, lo=0),
        commit_interval=table.number("commit_interval", 1.0, gt=0),
        reload_interval=table.number("reload_interval", 5.0, ge=0),
        site_error_after=table.number("site_error_after", 300.0, ge=0),
        max_followups=table.integer("max_followups", 1000, lo=1),
    )


def _level(table: _Table, key: str, default: str) -> str:
    value = table.data.get(key, default)
    if not isinstance(value, str) or not value:
        raise table.bad(key, "a log level (" + ", ".join(LOG_LEVELS) + ")", value)
    upper = value.upper()
    if upper not in LOG_LEVELS:
        table._bad_choice(key, value, LOG_LEVELS)
    return upper


def _load_logging(table: _Table, base: Path, environ: Mapping[str, str]) -> LoggingConfig:
    level = _level(table, "level", "INFO")
    email_data = table.table("email")
    email = None
    if email_data is not None:
        email = _load_email(_Table(email_data, "logging.email", table.path, _EMAIL_KEYS), environ)
    levels_data = table.table("handlers") or {}
    levels_table = _Table(levels_data, "logging.handlers", table.path, tuple(levels_data))
    levels = {name: _level(levels_table, name, "INFO") for name in levels_data}
    return LoggingConfig(
        level=level,
        file=table.path_value("file", None, base),
        max_bytes=table.integer("max_bytes", 10_000_000, lo=0),
        backup_count=table.integer("backup_count", 5, lo=0),
        json=table.boolean("json", False),
        email=email,
        handlers=MappingProxyType(levels),
    )


def _load_email(table: _Table, environ: Mapping[str, str]) -> EmailConfig:
    host = table.string("host")
    if host is None:
        raise table.error("host", "required in [logging.email]")
    sender = table.string("from")
    if sender is None:
        raise table.error("from", "required in [logging.email] (the sender address)")
    to_value = table.data.get("to", _MISSING)
    if to_value is _MISSING:
        raise table.error("to", "required in [logging.email] (a list of addresses)")
    if isinstance(to_value, str):
        to_value = [to_value]
    if (
        not isinstance(to_value, list)
        or not to_value
        or not all(isinstance(a, str) and a for a in to_value)
    ):
        raise table.bad("to", "a non-empty array of address strings", to_value)
    tls = table.boolean("tls", False)
    use_ssl = table.boolean("ssl", False)
    if tls and use_ssl:
        raise table.error("ssl", "set either tls (STARTTLS) or ssl (SMTP over TLS), not both")
    username = table.string("username")
    password = _secret(
        table, environ, key="password", env_key="password_env", direct_env=ENV_SMTP_PASSWORD
    )
    if password is not None and username is None:
        raise table.error("username", "required when a password is set")
    if username is not None and password is None:
        raise table.error(
            "password", f"required when username is set: set password_env or {ENV_SMTP_PASSWORD}"
        )
    subject = table.string("subject", "evframe error")
    assert subject is not None
    return EmailConfig(
        host=host,
        sender=sender,
        to=tuple(to_value),
        port=table.integer("port", 25, lo=1, hi=65535),
        tls=tls,
        ssl=use_ssl,
        username=username,
        password=password,
        subject=subject,
        timeout=table.number("timeout", 10.0, gt=0),
    )


def _load_handler(name: str, table: _Table, environ: Mapping[str, str]) -> HandlerConfig:
    direct_env = handler_api_key_env(name)
    api_key = _secret(table, environ, key="api_key", env_key="api_key_env", direct_env=direct_env)
    script_name = table.string("script_name")
    if script_name is not None and api_key is None:
        raise table.error(
            "api_key",
            f"required when script_name is set: set {direct_env}, "
            "or api_key_env to the name of a variable holding it",
        )
    if api_key is not None and script_name is None:
        raise table.error("script_name", "required when the handler has its own API key")
    backoff = table.number("retry_backoff", 1.0, gt=0)
    if table.has("retry_max_backoff"):
        max_backoff = table.number("retry_max_backoff", 60.0, ge=backoff)
    else:
        max_backoff = max(60.0, backoff)
    fallback = table.choice("retry_fallback", RETRY_FALLBACKS, "stop")
    assert fallback is not None
    options = table.table("config") or {}
    return HandlerConfig(
        name=name,
        enabled=table.boolean("enabled", True),
        on_error=table.choice("on_error", ON_ERROR_POLICIES, None),
        retry_attempts=table.integer("retry_attempts", 3, lo=1),
        retry_backoff=backoff,
        retry_max_backoff=max_backoff,
        retry_fallback=fallback,
        script_name=script_name,
        api_key=api_key,
        config=_freeze(dict(options)),
        pass_session_uuid=table.boolean("pass_session_uuid", False),
    )
