"""From a classic ``shotgunEventDaemon.conf`` and id file to ``evframe.toml`` and state.

:func:`convert_config` reads the classic config as the classic daemon does (a
``ConfigParser`` whose defaults are the environment, so ``%(SG_KEY)s`` reads a
variable) and gives the equivalent TOML, with every secret written as the name
of an environment variable and never in clear, plus what maps and what does not.
:func:`plan_state` turns the id file into per-handler cursors and pending ids;
:func:`write_state` writes them into a new evframe state file.
"""

from __future__ import annotations

import configparser
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evframe.classic.loader import Plugin
from evframe.classic.pickle_reader import ClassicIds
from evframe.errors import EvframeError

__all__ = [
    "Conversion",
    "MigrationError",
    "StatePlan",
    "convert_config",
    "plan_state",
    "write_state",
]

_ENV_REF = re.compile(r"^\s*%\((\w+)\)s\s*$")


class MigrationError(EvframeError):
    """The classic config cannot be read or converted; the message names the option."""

    exit_code = 3


@dataclass
class Conversion:
    """The TOML text, what mapped (``[classic] key -> evframe key``), what did not, the
    classic values the rest of the migration needs."""

    toml: str
    mapped: list[str] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)
    todo: list[str] = field(default_factory=list)
    site_url: str | None = None
    plugin_paths: list[str] = field(default_factory=list)
    id_file: str | None = None


class _Reader:
    """The classic ConfigParser, and a record of what was read."""

    def __init__(self, path: Path, env: Mapping[str, str]) -> None:
        # As the classic daemon: the environment is the defaults ('%' escaped, as a
        # value holding one would otherwise break interpolation).
        self.parser = configparser.ConfigParser({k: v.replace("%", "%%") for k, v in env.items()})
        self.env_keys = {k.lower() for k in env}
        try:
            if not self.parser.read(path, encoding="utf-8"):
                raise MigrationError(f"cannot read classic config {path}")
        except configparser.Error as exc:
            raise MigrationError(f"classic config {path} is not valid: {exc}") from None
        self.path = path
        self.used: set[tuple[str, str]] = set()

    def get(self, section: str, option: str) -> str | None:
        if not self.parser.has_option(section, option):
            return None
        self.used.add((section, option.lower()))
        try:
            return self.parser.get(section, option).strip()
        except configparser.Error as exc:
            raise MigrationError(f"[{section}] {option} in {self.path}: {exc}") from None

    def env_ref(self, section: str, option: str) -> str | None:
        """The variable a ``%(NAME)s`` value reads, or None."""
        raw = (
            self.parser.get(section, option, raw=True)
            if self.parser.has_option(section, option)
            else None
        )
        match = _ENV_REF.match(raw or "")
        return match.group(1) if match else None

    def leftovers(self) -> list[str]:
        out = []
        for section in self.parser.sections():
            for option in self.parser.options(section):
                if option not in self.env_keys and (section, option) not in self.used:
                    out.append(f"[{section}] {option}")
        return out


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def _number(text: str, where: str, kind: type) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise MigrationError(f"{where}: expected a number, got {text!r}") from None


def _secret(
    reader: _Reader, section: str, option: str, env_key: str, default_env: str, out: Conversion
) -> tuple[str, str] | None:
    """``(env_key, NAME)`` when the value reads a variable; otherwise a to-do line."""
    value = reader.get(section, option)
    if not value:
        return None
    name = reader.env_ref(section, option)
    if name:
        out.mapped.append(f"[{section}] {option} -> {env_key} = {name!r} (read from ${name})")
        return env_key, name
    out.todo.append(
        f"[{section}] {option} is written in clear in the classic config: set {default_env} "
        "to it in the daemon's environment (evframe.toml never holds it)"
    )
    return None


def convert_config(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> Conversion:
    """The classic config at ``path`` as evframe TOML (see :class:`Conversion`)."""
    reader = _Reader(Path(path), os.environ if env is None else env)
    out = Conversion("")
    sections: dict[str, list[str]] = {}

    def put(section: str, key: str, value: Any, classic: str) -> None:
        sections.setdefault(section, []).append(f"{key} = {_toml(value)}")
        out.mapped.append(f"{classic} -> [{section}] {key}")

    url = reader.get("shotgun", "server")
    if url:
        put("site", "url", url, "[shotgun] server")
        out.site_url = url
    name = reader.get("shotgun", "name")
    if name:
        put("site", "script_name", name, "[shotgun] name")
    secret = _secret(reader, "shotgun", "key", "api_key_env", "EVFRAME_API_KEY", out)
    if secret:
        sections.setdefault("site", []).append(f"{secret[0]} = {_toml(secret[1])}")
    proxy = reader.get("shotgun", "proxy_server")
    if proxy:
        if "@" in proxy:
            out.todo.append(
                "[shotgun] proxy_server holds a password: set [site] http_proxy by hand"
            )
        else:
            put("site", "http_proxy", proxy, "[shotgun] proxy_server")
    session = reader.get("shotgun", "use_session_uuid")
    if session and session.lower() in ("1", "true", "yes", "on"):
        out.todo.append(
            '[shotgun] use_session_uuid: set pass_session_uuid = true in [handlers."<name>"] '
            "for each handler that should show its changes live"
        )

    interval = reader.get("daemon", "fetch_interval")
    if interval:
        put("daemon", "poll_interval", _number(interval, "[daemon] fetch_interval", float),
            "[daemon] fetch_interval")  # fmt: skip
    batch = reader.get("daemon", "max_event_batch_size")
    if batch:
        put("daemon", "batch_size", min(5000, _number(batch, "[daemon] max_event_batch_size", int)),
            "[daemon] max_event_batch_size")  # fmt: skip
    out.id_file = reader.get("daemon", "eventIdFile")
    if out.id_file:
        out.mapped.append("[daemon] eventIdFile -> imported into the state file (--id-file)")
    level = reader.get("daemon", "logging")
    if level:
        number = _number(level, "[daemon] logging", int)
        put("logging", "level", logging.getLevelName(number), "[daemon] logging")
    log_path, log_file = reader.get("daemon", "logPath"), reader.get("daemon", "logFile")
    mode = reader.get("daemon", "logMode")
    if log_path and log_file:
        put("logging", "file", os.path.join(log_path, log_file), "[daemon] logPath + logFile")
    if log_path and mode is not None and mode.strip() == "1":
        put("classic", "log_dir", log_path, "[daemon] logMode = 1 + logPath")

    paths = reader.get("plugins", "paths")
    if paths:
        # Absolute: the classic daemon read them from its working directory.
        out.plugin_paths = [os.path.abspath(p.strip()) for p in paths.split(",") if p.strip()]
        put("classic", "paths", out.plugin_paths, "[plugins] paths")

    host = reader.get("emails", "server")
    if host:
        email = "logging.email"
        put(email, "host", host, "[emails] server")
        for option, key, kind in (
            ("port", "port", int),
            ("from", "from", str),
            ("subject", "subject", str),
            ("username", "username", str),
        ):
            value = reader.get("emails", option)
            if value:
                put(email, key, value if kind is str else _number(value, option, int),
                    f"[emails] {option}")  # fmt: skip
        to = reader.get("emails", "to")
        if to:
            put(email, "to", [a.strip() for a in to.split(",") if a.strip()], "[emails] to")
        tls = reader.get("emails", "useTLS")
        if tls:
            put(email, "tls", reader.parser.getboolean("emails", "useTLS"), "[emails] useTLS")
        password = _secret(
            reader, "emails", "password", "password_env", "EVFRAME_SMTP_PASSWORD", out
        )
        if password:
            sections[email].append(f"{password[0]} = {_toml(password[1])}")

    for option in ("pidFile", "conn_retry_sleep", "max_conn_retries", "timing_log"):
        if reader.get("daemon", option) is not None:
            out.unmapped.append(f"[daemon] {option}: {_UNMAPPED[option]}")
    if mode is not None and mode.strip() != "1":
        out.unmapped.append("[daemon] logMode = 0: one log file for all, as [logging] file")
    out.unmapped += [f"{o}: no evframe equivalent" for o in reader.leftovers()]

    lines = [f"# Converted from {Path(path).name} by `evframe migrate shotgunevents`."]
    for section in ("site", "daemon", "logging", "logging.email", "classic"):
        if section in sections:
            lines += ["", f"[{section}]", *sections[section]]
    out.toml = "\n".join(lines) + "\n"
    return out


_UNMAPPED = {
    "pidFile": "not needed; the state file is locked against a second daemon",
    "conn_retry_sleep": "not needed; site trouble is retried with backoff, forever",
    "max_conn_retries": "not needed; evframe never gives up on the site",
    "timing_log": "no equivalent; see the daemon's heartbeat and summary lines",
}


@dataclass
class StatePlan:
    """Cursors per handler, pending ids, and what could not be placed."""

    cursors: dict[str, int] = field(default_factory=dict)
    pending: dict[int, float] = field(default_factory=dict)
    read_cursor: int | None = None
    notes: list[str] = field(default_factory=list)


def _key(folder: str) -> str:
    return os.path.normcase(os.path.abspath(folder))


def plan_state(ids: ClassicIds, plugins: Sequence[Plugin], folders: Sequence[str]) -> StatePlan:
    """Each plugin's last id as the cursor of each of its callbacks; its backlog as pending."""
    plan = StatePlan()
    by_file = {(_key(str(p.path.parent)), p.path.name): p for p in plugins}
    states = {_key(folder): state for folder, state in ids.plugins.items()}
    everywhere = {_key(f) if f else "": i for f, i in ids.everywhere.items()}
    backlogs: dict[int, set[str]] = {}
    for (folder, name), plugin in sorted(by_file.items()):
        state = states.get(folder, {}).get(name)
        last = state.last_id if state is not None else everywhere.get(folder, everywhere.get(""))
        if last is None:
            plan.notes.append(f"{plugin.path}: no last event id in the id file; it starts "
                              "where the daemon starts, as new plugins do")  # fmt: skip
            continue
        for callback in plugin.callbacks:
            plan.cursors[f"{plugin.stem}.{callback.name}"] = last
        for event_id, expiry in (state.backlog if state is not None else {}).items():
            plan.pending[event_id] = max(plan.pending.get(event_id, 0.0), expiry.timestamp())
            backlogs.setdefault(event_id, set()).add(plugin.stem)
    stems = {p.stem for p in plugins if any(n.startswith(f"{p.stem}.") for n in plan.cursors)}
    for event_id, holders in sorted(backlogs.items()):
        if holders != stems:
            plan.notes.append(
                f"backlog id {event_id} is pending for {', '.join(sorted(holders))} only: when "
                "it shows up, every plugin past it gets it"
            )
    for folder, files in ids.plugins.items():
        for name in files:
            if (_key(folder), name) not in by_file:
                plan.notes.append(f"{folder}/{name} is in the id file but not loaded: skipped")
    if plan.cursors:
        plan.read_cursor = max(plan.cursors.values())
    return plan


def write_state(plan: StatePlan, state_path: str | os.PathLike[str], site_url: str) -> None:
    """Write ``plan`` into the state file (refused if it already knows one of the handlers)."""
    from evframe.state import State

    with State.open(state_path, site_url) as state:
        known = sorted(set(state.handlers()) & set(plan.cursors))
        if known:
            raise MigrationError(
                f"state file {state_path} already has cursors for {', '.join(known)}: "
                "migrate into a new state file"
            )
        for name, cursor in plan.cursors.items():
            state.ensure_handler(name, cursor)
        if plan.read_cursor is not None and state.read_cursor is None:
            state.set_read_cursor(plan.read_cursor)
        for event_id, deadline in plan.pending.items():
            state.add_pending([event_id], deadline)
        state.commit()
