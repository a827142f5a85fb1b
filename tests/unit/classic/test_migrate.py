"""``evframe migrate shotgunevents`` on a classic config and an id file written in the
classic daemon's shapes (and on hostile pickles, which must be refused)."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from evframe.classic.migrate import convert_config
from evframe.classic.pickle_reader import IdFileError, read_id_file
from evframe.cli import main
from evframe.config import load_config
from evframe.state import State

from .conftest import WritePlugin

SITE = "https://studio.example.com"
CLASSIC_CONF = """
[daemon]
pidFile: {tmp}/shotgunEventDaemon.pid
eventIdFile: {tmp}/shotgunEventDaemon.id
logMode: 1
logPath: {tmp}/logs
logFile: shotgunEventDaemon
logging: 20
timing_log: off
conn_retry_sleep: 60
max_conn_retries: 5
fetch_interval: 5
max_event_batch_size: 250

[shotgun]
server: %(SG_ED_SITE_URL)s
name: eventdaemon
key: %(SG_ED_API_KEY)s
proxy_server:
use_session_uuid: True

[plugins]
paths: {tmp}/plugins, {tmp}/more

[emails]
server: smtp.studio.example
port: 587
from: events@studio.example
username: events
password: hunter2-in-clear
useTLS: True
to: pipeline@studio.example, td@studio.example
subject: Shotgun Event Framework
"""

PLUGIN = """
def registerCallbacks(reg):
    reg.registerCallback("s", "k", one, {"Shotgun_Task_Change": "sg_status_list"})
    reg.registerCallback("s", "k", two)

def one(sg, logger, event, args):
    pass

def two(sg, logger, event, args):
    pass
"""

ENV = {"SG_ED_SITE_URL": SITE, "SG_ED_API_KEY": "the-secret-key-123", "PCT": "100%"}


@pytest.fixture
def classic(tmp_path: Path, write_plugin: WritePlugin) -> Path:
    write_plugin("plugins", "alpha.py", PLUGIN)
    write_plugin("plugins", "beta.py", PLUGIN)
    write_plugin("more", "gamma.py", PLUGIN)
    conf = tmp_path / "shotgunEventDaemon.conf"
    conf.write_text(textwrap.dedent(CLASSIC_CONF.format(tmp=tmp_path)))
    expiry = dt.datetime.now() + dt.timedelta(minutes=5)
    # As the classic daemon writes it: {collection path: {file name: (last id, backlog)}}.
    data = {
        str(tmp_path / "plugins"): {
            "alpha.py": (120, {118: expiry}),
            "beta.py": (120, {118: expiry}),
        },
        str(tmp_path / "more"): {"gamma.py": (97, {})},
    }
    (tmp_path / "shotgunEventDaemon.id").write_bytes(pickle.dumps(data, protocol=2))
    return conf


def test_the_config_converts_with_secrets_as_variable_names(classic: Path, tmp_path: Path) -> None:
    result = convert_config(classic, ENV)
    assert "the-secret-key-123" not in result.toml and "hunter2" not in result.toml
    out = tmp_path / "evframe.toml"
    out.write_text(result.toml)
    config = load_config(out, {"SG_ED_API_KEY": "k", "EVFRAME_SMTP_PASSWORD": "p"})
    assert config.site.url == SITE and config.site.script_name == "eventdaemon"
    assert config.site.api_key == "k"  # read from $SG_ED_API_KEY
    assert config.daemon.poll_interval == 5.0 and config.daemon.batch_size == 250
    assert config.logging.level == "INFO"
    assert config.classic.paths == (str(tmp_path / "plugins"), str(tmp_path / "more"))
    assert config.classic.log_dir == str(tmp_path / "logs")
    email = config.logging.email
    assert email is not None and email.tls and email.port == 587
    assert email.to == ("pipeline@studio.example", "td@studio.example")
    assert any("EVFRAME_SMTP_PASSWORD" in t for t in result.todo)
    assert any("pidFile" in u for u in result.unmapped)
    assert any("use_session_uuid" in t for t in result.todo)


def test_the_id_file_is_read_in_every_protocol_and_py2_shape(tmp_path: Path) -> None:
    backlog = {5: dt.datetime(2024, 5, 1, 12, 0, 0)}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        path = tmp_path / f"p{protocol}.id"
        path.write_bytes(pickle.dumps({"/plugins": {"a.py": (7, backlog), "b.py": 3}}, protocol))
        ids = read_id_file(path)
        assert ids.plugins["/plugins"]["a.py"].last_id == 7
        assert ids.plugins["/plugins"]["a.py"].backlog == backlog
        assert ids.plugins["/plugins"]["b.py"].last_id == 3
    # A Python 2 pickle of a datetime (a str state; protocol 2).
    py2 = (
        b"\x80\x02}q\x00U\x08/pluginsq\x01}q\x02U\x04a.pyq\x03K\x07}q\x04K\x05cdatetime\n"
        b"datetime\nq\x05U\n\x07\xe8\x05\x01\x0c\x00\x00\x00\x00\x00\x85Rq\x06s\x86q\x07ss."
    )
    (tmp_path / "py2.id").write_bytes(py2)
    assert read_id_file(tmp_path / "py2.id").plugins["/plugins"]["a.py"].backlog == backlog


class Exploit:
    def __reduce__(self) -> Any:
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps({"/p": {"a.py": Exploit()}}, protocol=2),
        pickle.dumps(Exploit(), protocol=0),
        b"cos\nsystem\n(S'echo pwned'\ntR.",
        b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94\x8c\x04eval\x94\x93.",
        pickle.dumps({"/p": {"a.py": (1, {2: "not a date"})}}, protocol=2),
        pickle.dumps(["a", "list"], protocol=2),
        b"not a pickle at all",
    ],
)
def test_a_hostile_or_foreign_id_file_is_refused_naming_the_file(
    tmp_path: Path, payload: bytes
) -> None:
    path = tmp_path / "hostile.id"
    path.write_bytes(payload)
    with pytest.raises(IdFileError) as info:
        read_id_file(path)
    assert str(path) in str(info.value)


def test_codecs_encode_is_allowed_only_for_latin1(tmp_path: Path) -> None:
    path = tmp_path / "codec.id"
    path.write_bytes(b"c_codecs\nencode\n(Vabc\nVzlib\ntR.")
    with pytest.raises(IdFileError, match="not a readable pickle"):
        read_id_file(path)


def test_migrate_check_writes_nothing(classic: Path, tmp_path: Path, monkeypatch: Any) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "evframe.toml"
    result = CliRunner().invoke(
        main, ["migrate", "shotgunevents", "--conf", str(classic), "--out", str(out), "--check"]
    )
    assert result.exit_code == 0, result.output
    assert not out.exists() and not (tmp_path / "evframe-state.db").exists()
    assert "alpha.one after event 120" in result.output
    assert "gamma.two after event 97" in result.output
    assert "pending   118" in result.output
    assert "substring" in result.output  # the matchEvents quirk is named
    assert "the-secret-key-123" not in result.output and "hunter2" not in result.output


def test_migrate_writes_config_and_state(classic: Path, tmp_path: Path, monkeypatch: Any) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    out = tmp_path / "evframe.toml"
    args = ["shotgunevents", "--conf", str(classic), "--out", str(out)]
    result = CliRunner().invoke(main, ["migrate", *args])
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("EVFRAME_SMTP_PASSWORD", "p")  # what the to-do line asks for
    assert load_config(out).classic.paths
    with State.open(tmp_path / "evframe-state.db", SITE, lock=False, create=False) as state:
        rows = state.handlers()
        assert {n: r.cursor for n, r in rows.items()} == {
            "alpha.one": 120,
            "alpha.two": 120,
            "beta.one": 120,
            "beta.two": 120,
            "gamma.one": 97,
            "gamma.two": 97,
        }
        assert state.read_cursor == 120
        assert set(state.pending()) == {118}
    again = CliRunner().invoke(main, ["migrate", *args, "--force"])
    assert again.exit_code != 0 and "already has cursors" in again.output


def test_migrate_refuses_a_hostile_id_file(classic: Path, tmp_path: Path, monkeypatch: Any) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    (tmp_path / "shotgunEventDaemon.id").write_bytes(pickle.dumps(Exploit(), protocol=2))
    out = tmp_path / "evframe.toml"
    result = CliRunner().invoke(
        main, ["migrate", "shotgunevents", "--conf", str(classic), "--out", str(out)]
    )
    assert result.exit_code == 4
    assert "refused classic id file" in result.output and not out.exists()


def test_migrate_runs_as_a_python_entry(classic: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "evframe",
            "migrate",
            "shotgunevents",
            "--conf",
            str(classic),
            "--check",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **ENV},
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[classic]" in proc.stdout and "the-secret-key-123" not in proc.stdout
