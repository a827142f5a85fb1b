"""Classic shotgunEvents plugins under ``evframe serve``, mixed with native handlers.

Plugins written here: several callbacks per plugin, shared state through ``args``
and module globals, per-callback credentials, ``stopOnError`` both ways, a plugin
that raises, a file without ``registerCallbacks``, a syntax error, and a plugin
fixed while the daemon runs.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import shotgun_api3

from evframe.state import State
from evframe.testing import install_distribution, wait_until

# What this suite tests does not depend on the executor (or hooks the inline one).
pytestmark = [pytest.mark.e2e, pytest.mark.inline_only]

MIX = Path(__file__).resolve().parent / "dists" / "evframe-test-classic-mix"
SCRIPTS = (("e2e", "e2e-sandbox-key-5f1c"), ("classic2", "classic2-key-77"))
# The artist's writes: native handlers do not get events their own script caused.
ARTIST = ("artist", "artist-key-31")

RECORD = """
import json, os
OUT = {out!r}

def record(name, event, **extra):
    line = {{"handler": name, "event_id": event["id"], "pid": os.getpid(), **extra}}
    with open(OUT, "a") as fh:
        fh.write(json.dumps(line) + "\\n")
"""

ALPHA = """
counter = {{"n": 0}}

def registerCallbacks(reg):
    shared = {{"last_status": None}}
    reg.registerCallback("e2e", "e2e-sandbox-key-5f1c", first,
                         {{"Shotgun_Task_Change": ["sg_status_list"]}}, shared)
    reg.registerCallback("e2e", "e2e-sandbox-key-5f1c", second, None, shared)
    reg.logger.info("alpha registered")

def first(sg, logger, event, args):
    args["last_status"] = event["id"]
    record("alpha.first", event)

def second(sg, logger, event, args):
    counter["n"] += 1
    record("alpha.second", event, shared=args["last_status"], n=counter["n"])
"""

BETA = """
def registerCallbacks(reg):
    reg.registerCallback("classic2", "classic2-key-77", first)

def first(sg, logger, event, args):
    # A real request with this callback's own script.
    sg.find_one("Project", [], ["id"])
    record("beta.first", event, script=sg.config.script_name)
"""

CARELESS = """
def registerCallbacks(reg):
    reg.registerCallback("e2e", "e2e-sandbox-key-5f1c", check, None, None, stopOnError=False)

def check(sg, logger, event, args):
    if event["event_type"].startswith("Shotgun_Shot_"):
        raise RuntimeError("careless cannot take shots")
    record("careless.check", event)
"""

FRAGILE = """
BOOM = {boom}

def registerCallbacks(reg):
    reg.registerCallback("e2e", "e2e-sandbox-key-5f1c", first)
    reg.registerCallback("e2e", "e2e-sandbox-key-5f1c", second)

def first(sg, logger, event, args):
    entity = event.get("entity") or {{}}
    if BOOM and "boom" in (entity.get("name") or ""):
        raise RuntimeError("fragile cannot take event %d" % event["id"])
    record("fragile.first", event)

def second(sg, logger, event, args):
    record("fragile.second", event)
"""


def write_plugin(folder: Path, name: str, body: str, out: Path, **fmt: Any) -> Path:
    path = folder / name
    before = path.stat().st_mtime_ns if path.exists() else None
    path.write_text(textwrap.dedent(RECORD.format(out=str(out)) + body.format(**fmt)))
    if before is not None:
        os.utime(path, ns=(before + 10**9, before + 10**9))
    return path


def read(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [json.loads(line) for line in out.read_text().split("\n")[:-1] if line]


def by_handler(lines: list[dict[str, Any]]) -> dict[str, list[int]]:
    got: dict[str, list[int]] = {}
    for line in lines:
        got.setdefault(line["handler"], []).append(line["event_id"])
    return got


def test_classic_plugins_run_unchanged_beside_native_handlers(
    procs: Any, tmp_path: Path, e2e_build_root: Path
) -> None:
    install_distribution(MIX, build_root=str(e2e_build_root))
    args = [sys.executable, "-m", "evframe", "sandbox", "--port", "0"]
    for name, key in (*SCRIPTS, ARTIST):
        args += ["--script", f"{name}:{key}"]
    args += ["--db", str(tmp_path / "site.db")]
    site = procs.start("sandbox", args)

    def site_url() -> str | None:
        first = site.out().split("\n", 1)
        return first[0].rsplit(" ", 1)[-1].strip() if len(first) == 2 else None

    url = wait_until(site_url, 20, "the sandbox to print its URL", detail=site.tail)
    out = tmp_path / "calls.jsonl"
    plugins, logs = tmp_path / "plugins", tmp_path / "logs"
    plugins.mkdir()
    logs.mkdir()
    write_plugin(plugins, "alpha.py", ALPHA, out)
    write_plugin(plugins, "beta.py", BETA, out)
    write_plugin(plugins, "careless.py", CARELESS, out)
    write_plugin(plugins, "fragile.py", FRAGILE, out, boom=True)
    (plugins / "noreg.py").write_text("x = 1\n")
    (plugins / "broken.py").write_text("def registerCallbacks(reg)\n    pass\n")
    (plugins / "_helpers.py").write_text("raise RuntimeError('never imported')\n")
    state = tmp_path / "state.db"
    config = tmp_path / "evframe.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [daemon]
            state = {json.dumps(str(state))}
            group = "evframe.classic_e2e"
            start = "earliest"
            poll_interval = 0.1
            active_poll_interval = 0.05
            reload_interval = 0.5

            [classic]
            paths = [{json.dumps(str(plugins))}]
            log_dir = {json.dumps(str(logs))}

            [handlers.mix_before.config]
            out = {json.dumps(str(out))}

            [handlers.mix_after.config]
            out = {json.dumps(str(out))}
            """
        )
    )
    env = {
        "EVFRAME_SITE_URL": url,
        "EVFRAME_SCRIPT_NAME": SCRIPTS[0][0],
        "EVFRAME_API_KEY": SCRIPTS[0][1],
    }
    serve = [sys.executable, "-m", "evframe", "serve", "--config", str(config)]
    proc = procs.start("serve", serve, env=env)
    proc.wait_log(r"evframe\.daemon: serving ", timeout=30)
    assert proc.log_lines(r"noreg\.py has no registerCallbacks function")
    assert proc.log_lines(r"classic plugin .*broken\.py: cannot import it")
    assert proc.log_lines(r"SyntaxError")
    assert proc.log_lines(r"alpha registered")

    sg = shotgun_api3.Shotgun(url, *ARTIST)
    project = sg.create("Project", {"name": "classic"})
    shot = sg.create("Shot", {"code": "sh010", "project": project})
    task = sg.create("Task", {"content": "anim", "project": project, "entity": shot})
    for status in ("rdy", "ip", "rev"):
        sg.update("Task", task["id"], {"sg_status_list": status})
    boom = sg.create("Shot", {"code": "sh020_boom", "project": project})
    sg.update("Task", task["id"], {"sg_status_list": "fin"})
    proc.wait_log(r"paused handler group fragile\.first, fragile\.second at event", timeout=20)

    def events() -> list[dict[str, Any]]:
        return sg.find(  # type: ignore[no-any-return]
            "EventLogEntry", [], ["id", "event_type", "attribute_name", "entity"],
            order=[{"field_name": "id", "direction": "asc"}],
        )  # fmt: skip

    rows = events()
    ids = [e["id"] for e in rows]
    failing = min(
        e["id"] for e in rows if e["entity"] and e["entity"].get("id") == boom["id"]
        and e["entity"].get("type") == "Shot"
    )  # fmt: skip
    everyone = ("alpha.second", "beta.first", "mix_before", "mix_after")
    wait_until(
        lambda: all(set(ids) <= set(by_handler(read(out)).get(n, ())) for n in everyone),
        20,
        "every other handler to get every event while fragile is paused",
        detail=proc.tail,
    )
    got = by_handler(read(out))
    statuses = [
        e["id"] for e in rows
        if e["event_type"] == "Shotgun_Task_Change" and e["attribute_name"] == "sg_status_list"
    ]  # fmt: skip
    assert got["alpha.first"] == statuses  # matchEvents
    shots = {e["id"] for e in rows if e["event_type"].startswith("Shotgun_Shot_")}
    assert got["careless.check"] == [i for i in ids if i not in shots]  # stopOnError=False
    assert got["fragile.first"] == [i for i in ids if i < failing]
    assert got["fragile.second"] == [i for i in ids if i < failing]
    lines = read(out)
    # Shared state through args and module globals.
    seconds = [x for x in lines if x["handler"] == "alpha.second"]
    assert [x["n"] for x in seconds] == list(range(1, len(seconds) + 1))
    assert seconds[-1]["shared"] == statuses[-1]
    # Per-callback credentials.
    assert {x["script"] for x in lines if x["handler"] == "beta.first"} == {"classic2"}
    # The classic order, and native handlers around classic callbacks.
    for event_id in ids:
        order = [x["handler"] for x in lines if x["event_id"] == event_id]
        assert order.index("alpha.second") < order.index("mix_after"), order
        assert order.index("mix_before") < order.index("beta.first"), order
        assert order.index("alpha.second") < order.index("beta.first"), order
        if "careless.check" in order:
            assert order.index("beta.first") < order.index("careless.check"), order

    # Fix fragile while the daemon runs: its group resumes from its own cursor.
    write_plugin(plugins, "fragile.py", FRAGILE, out, boom=False)
    proc.wait_log(r"new handler set is valid", timeout=30)
    proc.wait_log(r"handler set reloaded", timeout=30)  # restarted in place
    assert proc.alive()
    wait_until(
        lambda: set(ids) <= set(by_handler(read(out)).get("fragile.second", ())),
        30,
        "fragile to catch up after its fix",
        detail=proc.tail,
    )
    got = by_handler(read(out))
    assert got["fragile.first"] == ids and got["fragile.second"] == ids  # none lost, none twice
    with State.open(state, url, lock=False, create=False) as st:
        dead = st.dead_letters("careless.check")
        rows_state = st.handlers()
    assert {d.event_id for d in dead} == shots
    assert rows_state["fragile.first"].status == "active"
    # The classic per-plugin log file.
    assert "alpha registered" in (logs / "plugin.alpha").read_text()
    proc.signal(15)
    proc.wait_exit(30)
    sg.close()
