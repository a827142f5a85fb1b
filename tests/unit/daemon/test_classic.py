"""Classic plugins in the daemon core: a stopped plugin pauses alone, resumes from its own
cursor when its file changes, and loses no event; stopOnError=False keeps a dead letter."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

from evframe.config import ClassicConfig, Config
from evframe.daemon import Daemon, RunResult
from evframe.daemon.reload import Reloader, watching
from evframe.discovery import Validation

PLUGIN = """
import json, os

OUT = {out!r}
BAD = {bad!r}

def registerCallbacks(reg):
    reg.registerCallback("s", "k", record, None, "{stem}", stopOnError={stop})

def record(sg, logger, event, args):
    if event["id"] in BAD:
        raise RuntimeError("cannot take %d" % event["id"])
    with open(OUT, "a") as fh:
        fh.write(json.dumps([args, event["id"]]) + "\\n")
"""


def write(folder: Path, stem: str, out: Path, *, bad: list[int], stop: bool = True) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{stem}.py"
    before = path.stat().st_mtime_ns if path.exists() else None
    path.write_text(textwrap.dedent(PLUGIN.format(out=str(out), bad=bad, stem=stem, stop=stop)))
    if before is not None:
        os.utime(path, ns=(before + 10**9, before + 10**9))
    return path


def calls(out: Path) -> dict[str, list[int]]:
    got: dict[str, list[int]] = {}
    if out.exists():
        for line in out.read_text().splitlines():
            import json

            stem, event_id = json.loads(line)
            got.setdefault(stem, []).append(event_id)
    return got


def classic_config(h: Any, folder: Path) -> Config:
    import dataclasses

    config: Config = h.config()
    # Callbacks get real Shotgun objects; making one sends no request.
    site = dataclasses.replace(config.site, url="http://127.0.0.1:9")
    return dataclasses.replace(
        config,
        site=site,
        daemon=dataclasses.replace(config.daemon, group="evframe.no_such_group"),
        classic=ClassicConfig(paths=(str(folder),)),
    )


def daemon(h: Any, config: Config, **kw: Any) -> Daemon:
    return Daemon(
        config,
        source=h.source,
        clock=h.clock,
        fingerprints=lambda group: {},
        validate=lambda group: Validation(True, [], {}, [], None),
        **kw,
    )


def test_a_stopped_plugin_pauses_alone_and_resumes_when_its_file_changes(
    h: Any, tmp_path: Path
) -> None:
    folder, out = tmp_path / "plugins", tmp_path / "calls.jsonl"
    write(folder, "fragile", out, bad=[3])
    write(folder, "steady", out, bad=[])
    config = classic_config(h, folder)
    h.add(5)
    assert daemon(h, config, until_caught_up=True).run() is RunResult.FINISHED
    assert calls(out) == {"fragile": [1, 2], "steady": [1, 2, 3, 4, 5]}
    with h.state() as state:
        rows = state.handlers()
    assert rows["fragile.record"].status == "failed" and rows["fragile.record"].cursor == 2

    h.add(2)
    daemon(h, config, until_caught_up=True).run()  # unchanged file: still paused
    assert calls(out)["fragile"] == [1, 2]

    write(folder, "fragile", out, bad=[])  # fixed: a new mtime
    daemon(h, config, until_caught_up=True).run()
    assert calls(out) == {"fragile": [1, 2, 3, 4, 5, 6, 7], "steady": [1, 2, 3, 4, 5, 6, 7]}


def test_stop_on_error_false_keeps_a_dead_letter_and_goes_on(h: Any, tmp_path: Path) -> None:
    folder, out = tmp_path / "plugins", tmp_path / "calls.jsonl"
    write(folder, "careless", out, bad=[2], stop=False)
    config = classic_config(h, folder)
    h.add(3)
    daemon(h, config, until_caught_up=True).run()
    assert calls(out) == {"careless": [1, 3]}
    with h.state() as state:
        (dead,) = state.dead_letters("careless.record")
    assert dead.event_id == 2 and "cannot take 2" in dead.error


def test_an_edited_new_or_deleted_plugin_file_reloads_the_set(h: Any, tmp_path: Path) -> None:
    folder, out = tmp_path / "plugins", tmp_path / "calls.jsonl"
    write(folder, "first", out, bad=[])
    config = classic_config(h, folder)
    checked: list[str] = []

    def validate(group: str) -> Validation:
        checked.append(group)
        return Validation(True, [], {}, [], None)

    fingerprints, checker = watching(config, lambda group: {"native": "1"}, validate)
    current = fingerprints("g")
    assert current["native"] == "1" and f"classic plugin {folder / 'first.py'}" in current
    for change in (
        lambda: write(folder, "first", out, bad=[9]),  # edited
        lambda: write(folder, "second", out, bad=[]),  # new
        lambda: (folder / "first.py").unlink(),  # deleted
    ):
        reloader = Reloader(
            "g", h.clock, interval=1.0, current=current, fingerprints=fingerprints, validate=checker
        )
        h.clock.advance(1.0)
        assert reloader.due() is None  # nothing changed yet
        change()
        h.clock.advance(1.0)
        assert reloader.due() is None  # changed: settling
        h.clock.advance(1.0)
        assert reloader.due() is not None
        current = fingerprints("g")
    assert checked == ["g", "g", "g"]
