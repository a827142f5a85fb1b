"""The configuration model and its loader.

A config is one TOML file (``evframe.toml`` by default) plus environment variables for the
site and the secrets.  :func:`load_config` reads and validates everything at once and returns
frozen :class:`Config` objects; every problem is a :class:`ConfigError` whose message names the
dotted key (or the environment variable) and the file.  Secret values (API keys, the SMTP
password) never appear in a ``repr``, an error message or — through
:func:`evframe.redact.redact` and the logging filter — a log line.

Each section is a dataclass whose fields are its keys: the field's :func:`~evframe._schema.key`
says, once, the kind of value, its default, bounds or choices, environment variables and a
one-line help text.  The generic loader in :mod:`evframe._schema` walks these fields, and
:func:`reference_tables` renders them as the tables of ``docs/configuration.md``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from evframe._kinds import (
    Choice,
    ChoiceOrId,
    EnvOnly,
    FilePath,
    Flag,
    FreeTable,
    HostPort,
    Integer,
    Level,
    Number,
    Paths,
    Section,
    Sections,
    Strings,
    TableOf,
    Text,
    Url,
)
from evframe._opsconfig import MetricsConfig as MetricsConfig
from evframe._schema import REQUIRED, Invalid, env_name, key, load_root, reference, secret_values
from evframe.errors import EvframeError
from evframe.handler import Policy
from evframe.redact import mask_proxy, proxy_password

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    # mypy checks this branch (python_version = 3.10) where tomli may not be installed.
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "ClassicConfig",
    "Config",
    "ConfigError",
    "DaemonConfig",
    "EmailConfig",
    "HandlerConfig",
    "LoggingConfig",
    "MetricsConfig",
    "SiteConfig",
    "WebhookConfig",
    "handler_api_key_env",
    "load_config",
    "reference_tables",
]

DEFAULT_CONFIG_NAME: Final = "evframe.toml"

ENV_HANDLER_API_KEY: Final = "EVFRAME_HANDLER_<NAME>_API_KEY"

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class ConfigError(EvframeError):
    """A config problem.

    The message names the key (e.g. ``daemon.batch_size: expected an integer between 1 and
    5000, got "abc"``) and the file.  ``key`` is the dotted key (``None`` for problems with
    the file as a whole), ``path`` the file, ``detail`` the message without key and file.
    """

    exit_code = 3  # the command line's exit status for a configuration error

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

_KEY_HOLDER = "or api_key_env to the name of a variable holding it"


@dataclass(frozen=True)
class SiteConfig:
    """How to reach the Flow Production Tracking site (``[site]``).

    ``url`` ``None`` means no site is configured: the daemon runs an embedded sandbox.
    ``api_key`` comes from ``EVFRAME_API_KEY``, from the variable named by ``api_key_env``
    or (discouraged) a literal ``api_key``; it is never shown by ``repr``.
    """

    url: str | None = key(
        Url("http://", "https://"), None,
        "Site URL, `http://` or `https://`. When no URL is set, the daemon runs an embedded "
        "sandbox.",
        env="EVFRAME_SITE_URL",
    )  # fmt: skip
    script_name: str | None = key(
        Text(), None, "API script name. Required when a URL is set.",
        env="EVFRAME_SCRIPT_NAME",
        required_if=("url", "required when a site url is set (or set {env})"),
    )  # fmt: skip
    api_key: str | None = key(
        Text(), None,
        "The key itself. Allowed but discouraged (see [Secrets](#secrets)). Not together "
        "with `api_key_env`.",
        secret=True, env="EVFRAME_API_KEY", env_key="api_key_env",
        env_key_help="The **name** of an environment variable that holds the script's key.",
        required_if=("url", "required when a site url is set: set {env}, " + _KEY_HOLDER),
    )  # fmt: skip
    timeout: float = key(
        Number(gt=0), 30.0, "Socket timeout in seconds for every connection to the site."
    )
    http_proxy: str | None = key(
        Text(), None,
        "Proxy as `[user:password@]host[:port]`, passed to `shotgun_api3`. A password in it "
        "is treated as a secret.",
    )  # fmt: skip
    ca_certs: str | None = key(
        FilePath(), None,
        "CA bundle for the site's certificate (relative to the config directory).",
    )  # fmt: skip

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
    enabled: bool = key(Flag(), True, "`false` keeps the handler from running.")
    on_error: str | None = key(
        Choice(*(p.value for p in Policy)), None,
        "What a failure does. `stop`: the handler and every handler linked to it by ordering "
        "edges pause at the failing event until its code changes or an operator resumes it. "
        "`skip`: a dead letter is recorded and processing goes on. `retry`: retried with "
        "backoff, then `retry_fallback`.",
        default_doc='the handler\'s own, else `"stop"`',
    )  # fmt: skip
    retry_attempts: int = key(Integer(lo=1), 3, 'Attempts for `on_error = "retry"`.')
    retry_backoff: float = key(
        Number(gt=0), 1.0, "First wait between attempts, seconds; it doubles each time."
    )
    retry_max_backoff: float = key(Number(ge="retry_backoff"), 60.0, "Cap on the wait.")
    retry_fallback: str = key(
        Choice("stop", "skip"), "stop", "What happens when retries are exhausted."
    )
    script_name: str | None = key(
        Text(), None,
        "Own API script for this handler's `ctx.sg` (default: the site's). Needs a key.",
        required_if=("api_key", "required when the handler has its own API key"),
    )  # fmt: skip
    api_key: str | None = key(
        Text(), None, "The key itself (discouraged).",
        secret=True, env=ENV_HANDLER_API_KEY, env_key="api_key_env",
        env_key_help="Name of the variable holding that script's key.",
        required_if=("script_name", "required when script_name is set: set {env}, " + _KEY_HOLDER),
    )  # fmt: skip
    config: Mapping[str, Any] = key(
        FreeTable(), help="Free-form options, see below.", factory=lambda: _EMPTY
    )
    pass_session_uuid: bool = key(
        Flag(), False,
        "Give `ctx.sg` the event's `session_uuid`, so the changes the handler makes show live "
        "in the browser session of the user who caused the event.",
    )  # fmt: skip
    order: str | None = key(
        Choice("entity", "global"), None,
        "`global`: every event the handler (or its group) wants runs in id order, one at a "
        "time, whatever the executor. `entity`: events of one entity run in id order.",
        default_doc='the handler\'s own `@order`, else `"entity"`',
    )  # fmt: skip
    alert_to: tuple[str, ...] = key(
        Strings("address"), (),
        "Alert mail about this handler goes to these addresses instead of `[logging.email] "
        "to` (list those too to keep them informed).",
        default_doc="`[logging.email] to`",
    )  # fmt: skip
    timeout: float = key(
        Number(ge=0), 300.0,
        "Time budget in seconds for one call of the handler. Past it, the handler is reported "
        "with its stack at ERROR; with `executor = \"processes\"` its worker process is "
        "killed and the handler counts as failed; the inline and threads executors cannot "
        "stop it (see the daemon docs). `0`: no budget (`daemon.chain_timeout` then bounds a "
        "worker process).",
    )  # fmt: skip
    own_writes: bool | None = key(
        Flag(), None,
        "Also deliver the events caused by writes of this handler's own script (its `ctx.sg` "
        "credentials). Off by default, so a handler that updates what it handles does not "
        "trigger itself again.",
        default_doc="the handler's own (`@own_writes`), else `false`",
    )  # fmt: skip


@dataclass(frozen=True)
class DaemonConfig:
    """Settings of ``evframe serve`` (``[daemon]``); ``state`` is an absolute path."""

    state: str = key(
        FilePath(), "evframe-state.db",
        "The SQLite state file (relative to the config directory). Only one daemon may use "
        "it at a time.",
    )  # fmt: skip
    group: str = key(Text(), "evframe.handlers", "Entry-point group handlers are loaded from.")
    batch_size: int = key(
        Integer(1, 5000), 500,
        "Events read per query. A full batch is followed at once by the next read.",
    )  # fmt: skip
    poll_interval: float = key(
        Number(ge=0.01), 1.0,
        "Seconds between reads while the site is quiet: the longest wait the back-off after "
        "the last event reaches (sub-second values are fine).",
    )  # fmt: skip
    active_poll_interval: float = key(
        Number(ge=0.01, le="poll_interval"), 0.05,
        "Seconds between reads while events arrive and for 2 s after the last one; then each "
        "empty read doubles the wait, up to `poll_interval`.",
    )  # fmt: skip
    start: str | int = key(
        ChoiceOrId("latest", "earliest", noun="an event id"), "latest",
        "Where a **new** state file starts: after the newest event, at the oldest, or after "
        "the given event id. Ignored once the state file has a cursor.",
    )  # fmt: skip
    gap_timeout: float = key(
        Number(ge=0), 300.0,
        "Seconds an event id that was skipped (a transaction that commits late) is waited for "
        "and fetched by id before it is given up.",
    )  # fmt: skip
    max_gap: int = key(
        Integer(lo=0), 10000, "A gap of more ids than this is logged and not waited for."
    )
    commit_interval: float = key(
        Number(gt=0), 1.0,
        "State is committed per batch and at least this often (seconds). A crash replays at "
        "most this much.",
    )  # fmt: skip
    reload_interval: float = key(
        Number(ge=0), 5.0,
        "Seconds between checks for installed or upgraded handler packages; `0` turns "
        "automatic reload off (SIGHUP still reloads).",
    )  # fmt: skip
    site_error_after: float = key(
        Number(ge=0), 300.0,
        "Seconds of continuous site trouble (refused connections, timeouts, 5xx, maintenance) "
        "after which an ERROR line is logged; before that, warnings.",
    )  # fmt: skip
    stop_timeout: float = key(
        Number(gt=0), 10.0,
        "Seconds a stop (SIGTERM) waits for the handler in hand. A handler still running then "
        "is abandoned: the state is committed without its event, which is delivered again at "
        "the next start.",
    )  # fmt: skip
    max_followups: int = key(
        Integer(lo=1), 1000,
        "How many follow-up events one root event may spawn; more is an error (it catches "
        "loops).",
    )  # fmt: skip
    executor: str = key(
        Choice("inline", "threads", "processes", "celery"), "inline",
        "Where handler chains run: in the daemon's thread, in `workers` threads, in "
        "`workers` processes, or on Celery workers (`evframe worker`). See scaling.md.",
    )  # fmt: skip
    workers: int = key(
        Integer(1, 256), 4, "Threads or processes running chains at once (Celery: in flight)."
    )
    broker: str | None = key(
        Url("redis://", "rediss://"), None,
        "Redis URL of the Celery broker (`executor = \"celery\"`).",
        env="EVFRAME_BROKER_URL",
    )  # fmt: skip
    chain_timeout: float = key(
        Number(gt=0), 600.0,
        "Seconds a chain may run before it counts as lost: a worker process is killed, a "
        "Celery task is sent again.",
    )  # fmt: skip


@dataclass(frozen=True)
class WebhookConfig:
    """The webhook listener of ``evframe serve`` (``[webhook]``): deliveries are hints that
    wake the poller (see ``docs/webhooks.md``).  No ``listen``: polling only."""

    listen: str | None = key(
        HostPort(), None, "Address the listener binds; unset: no listener, polling only."
    )
    path: str = key(Text(), "/sg-webhook", "URL path deliveries are posted to.")
    secret: str | None = key(
        EnvOnly(), None, "The webhook's secret token; only ever from the environment.",
        secret=True, env_key="secret_env",
        env_key_help="Name of the variable holding the webhook's secret token.",
        required_if=("listen", "required when listen is set: set secret_env to the name "
                     "of a variable holding the webhook's secret token"),
    )  # fmt: skip
    backstop_interval: float = key(
        Number(ge=0.01), 10.0, "Seconds between polls while deliveries flow."
    )
    stale_after: float = key(
        Number(gt=0), 30.0,
        "No delivery for this long while a poll finds new events: deliveries count as "
        "stopped and polling returns to its normal pace until they resume.",
    )  # fmt: skip
    max_body: int = key(Integer(lo=1024), 2_000_000, "Largest request body, bytes (413 above).")
    read_timeout: float = key(Number(gt=0), 5.0, "Seconds a client has to send its request.")
    max_clients: int = key(Integer(lo=1), 32, "Connections served at once; more get 503.")
    queue_size: int = key(Integer(lo=1), 10_000, "Most announced event ids held at once.")


@dataclass(frozen=True)
class EmailConfig:
    """Error mail (``[logging.email]``): records at ERROR and above are mailed.

    ``sender`` is the TOML key ``from``.  ``tls`` means STARTTLS, ``ssl`` an SMTP-over-TLS
    connection (usually port 465).  ``password`` is never shown by ``repr``.
    """

    host: str = key(Text(), REQUIRED, "SMTP server.", required="required in [logging.email]")
    sender: str = key(
        Text(), REQUIRED, "Sender address.",
        toml="from", required="required in [logging.email] (the sender address)",
    )  # fmt: skip
    to: tuple[str, ...] = key(
        Strings("address"), REQUIRED, "Recipients (at least one).",
        required="required in [logging.email] (a list of addresses)",
    )  # fmt: skip
    port: int = key(
        Integer(1, 65535), 25,
        "SMTP port (587 for STARTTLS, 465 for SMTP over TLS, usually).",
    )  # fmt: skip
    tls: bool = key(Flag(), False, "Upgrade the connection with STARTTLS.")
    ssl: bool = key(
        Flag(), False, "Connect with TLS from the start (SMTPS). Not together with `tls`.",
        excludes=("tls", "set either tls (STARTTLS) or ssl (SMTP over TLS), not both"),
    )  # fmt: skip
    username: str | None = key(
        Text(), None, "Log in as this user (needs a password).",
        required_if=("password", "required when a password is set"),
    )  # fmt: skip
    password: str | None = key(
        Text(), None, "The password itself (discouraged).",
        secret=True, env="EVFRAME_SMTP_PASSWORD", env_key="password_env",
        env_key_help="Name of the variable holding the password.",
        required_if=("username", "required when username is set: set password_env or {env}"),
    )  # fmt: skip
    subject: str = key(
        Text(), "evframe error",
        "Start of the subject line; the rest names the handler and the event.",
    )  # fmt: skip
    timeout: float = key(Number(gt=0), 10.0, "Connection timeout, seconds.")
    digest_interval: float = key(
        Number(gt=0), 600.0,
        "After a mail about a handler (or the daemon), what else goes wrong with it is "
        "gathered for this many seconds and sent as one digest.",
    )  # fmt: skip


@dataclass(frozen=True)
class LoggingConfig:
    """Log sinks and levels (``[logging]``); ``file`` is an absolute path or ``None``."""

    level: str = key(
        Level(), "INFO",
        "Level of the `evframe` loggers. `-v` on the command line means DEBUG.",
    )  # fmt: skip
    file: str | None = key(
        FilePath(), None,
        "Also log to this file (relative to the config directory), rotated by size. The "
        "directory must exist.",
    )  # fmt: skip
    max_bytes: int = key(
        Integer(lo=0), 10_000_000,
        "Rotate when the file reaches this size; `0` never rotates (use with logrotate's "
        "`copytruncate`).",
    )  # fmt: skip
    backup_count: int = key(Integer(lo=0), 5, "Rotated files kept (`evframe.log.1` … `.5`).")
    json: bool = key(Flag(), False, "Write JSON lines instead of text on every sink.")
    email: EmailConfig | None = key(
        Section(EmailConfig, optional=True), None, "Error mail, see `[logging.email]`."
    )
    handlers: Mapping[str, str] = key(
        TableOf(Level()), help="Per-handler log levels.", factory=lambda: _EMPTY
    )
    repeat_window: float = key(
        Number(ge=0), 600.0,
        "An ERROR line identical to one logged less than this many seconds ago is not "
        "logged again; the next one after that says how often it was held back. `0`: off.",
    )  # fmt: skip


@dataclass(frozen=True)
class ClassicConfig:
    """Classic ``shotgunEvents`` plugins run as handlers (``[classic]``)."""

    paths: tuple[str, ...] = key(
        Paths(), (),
        "Plugin folders, in the order their plugins run (relative to the config directory). "
        "Each callback is the handler `<file stem>.<callback name>`.",
        default_doc="none",
    )  # fmt: skip
    log_dir: str | None = key(
        FilePath(), None,
        "One log file per plugin here (`plugin.<file stem>`), rotated at midnight like the "
        "classic `logMode = 1`.",
    )  # fmt: skip
    log_backups: int = key(Integer(lo=0), 10, "Rotated plugin log files kept.")


@dataclass(frozen=True)
class Config:
    """A whole configuration; ``path`` is the file it came from (``None``: defaults only)."""

    path: Path | None = None
    site: SiteConfig = key(Section(SiteConfig), help="The site.", factory=SiteConfig)
    daemon: DaemonConfig = key(Section(DaemonConfig), help="The daemon.", factory=DaemonConfig)
    webhook: WebhookConfig = key(
        Section(WebhookConfig), help="Webhook deliveries.", factory=WebhookConfig
    )
    logging: LoggingConfig = key(Section(LoggingConfig), help="Logs.", factory=LoggingConfig)
    classic: ClassicConfig = key(
        Section(ClassicConfig), help="Classic plugins.", factory=ClassicConfig
    )
    metrics: MetricsConfig = key(
        Section(MetricsConfig), help="Metrics and health.", factory=MetricsConfig
    )
    handlers: Mapping[str, HandlerConfig] = key(
        Sections(HandlerConfig), help="Per-handler settings.", factory=lambda: _EMPTY
    )

    def handler(self, name: str) -> HandlerConfig:
        """The configured settings of handler ``name``, or the defaults for it."""
        configured = self.handlers.get(name)
        return configured if configured is not None else HandlerConfig(name)

    def secrets(self) -> list[str]:
        """Every non-empty secret value in this config, longest first, without duplicates."""
        found = set(secret_values(self))
        password = proxy_password(self.site.http_proxy)
        if password:
            found.add(password)
        # Longest first so a secret containing another one is replaced whole.
        return sorted(found, key=lambda s: (-len(s), s))


def handler_api_key_env(name: str) -> str:
    """The environment variable holding handler ``name``'s API key.

    ``EVFRAME_HANDLER_<NAME>_API_KEY`` with the name upper-cased and every character other
    than an ASCII letter or digit replaced by ``_`` (``shot-rollup`` -> ``SHOT_ROLLUP``).
    """
    return env_name(ENV_HANDLER_API_KEY, name)


def reference_tables() -> dict[str, str]:
    """The Markdown reference table of each section, by its TOML heading (``[daemon]``)."""
    return reference(Config)


# --------------------------------------------------------------------------- the loader


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
    try:
        return load_root(Config, data, base, environ, path=source)
    except Invalid as exc:
        raise ConfigError(exc.detail, key=exc.key, path=source) from None


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
