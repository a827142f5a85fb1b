"""Plugin folders to handlers on a Processor: loading, order, calls, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evframe import Processor, requires
from evframe.errors import CycleError
from evframe.handler import Outcome, Policy
from evframe.testing import make_record

from .conftest import Connections, WritePlugin, load

RECORDER = """
calls = []

def registerCallbacks(reg):
    reg.registerCallback("s-{n}", "k-{n}", first, {{"Shotgun_Task_Change": None}}, calls)
    reg.registerCallback("s-{n}", "k-{n}", second, None, calls)

def first(sg, logger, event, args):
    args.append(("{n}.first", event["id"]))

def second(sg, logger, event, args):
    args.append(("{n}.second", event["id"]))
"""


def task_change(event_id: int, field: str = "sg_status_list") -> Any:
    from evframe import ShotgunEvent

    return ShotgunEvent(
        make_record(
            "Shotgun_Task_Change",
            id=event_id,
            entity={"type": "Task", "id": 1},
            attribute_name=field,
        )
    )


def test_plugin_files_load_in_the_classic_order(tmp_path: Path, write_plugin: WritePlugin) -> None:
    for folder, name in (("one", "zeta.py"), ("one", "alpha.py"), ("two", "aardvark.py")):
        write_plugin(folder, name, RECORDER.format(n=name[:-3]))
    write_plugin("one", "_helpers.py", "raise RuntimeError('never imported')")
    write_plugin("one", ".hidden.py", "raise RuntimeError('never imported')")
    write_plugin("one", "notes.txt", "not a plugin")
    processor, found = load(tmp_path, "one", "two")
    assert not found.errors and not found.warnings
    assert processor.names == [
        "alpha.first",
        "alpha.second",
        "zeta.first",
        "zeta.second",
        "aardvark.first",
        "aardvark.second",
    ]
    processor.run(task_change(7))
    calls = [c for p in found.plugins for c in p.module.calls]
    assert sorted(calls) == sorted((name, 7) for name in processor.names)


def test_broken_plugins_are_reported_and_the_others_load(
    tmp_path: Path, write_plugin: WritePlugin
) -> None:
    write_plugin("p", "good.py", RECORDER.format(n="good"))
    write_plugin("p", "syntax.py", "def registerCallbacks(reg)\n    pass\n")
    write_plugin("p", "missing.py", "import no_such_module_here\n")
    write_plugin("p", "raises.py", "raise ValueError('at import')\n")
    write_plugin("p", "exits.py", "import sys\nsys.exit(3)\n")
    write_plugin("p", "noreg.py", "x = 1\n")
    write_plugin("p", "badreg.py", "def registerCallbacks(reg):\n    reg.sendMail('x')\n")
    processor, found = load(tmp_path, "p")
    assert processor.names == ["good.first", "good.second"]
    errors = {e.path.name: str(e) for e in found.errors}
    assert set(errors) == {"syntax.py", "missing.py", "raises.py", "exits.py", "badreg.py"}
    assert (
        "SyntaxError" in errors["syntax.py"]
        and str(tmp_path / "p" / "syntax.py") in errors["syntax.py"]
    )
    assert "Traceback" in errors["missing.py"] and "no_such_module_here" in errors["missing.py"]
    assert "ValueError: at import" in errors["raises.py"]
    assert "AttributeError" in errors["badreg.py"] and "sendMail" in errors["badreg.py"]
    (warning,) = found.warnings
    assert "noreg.py" in warning and "registerCallbacks" in warning


def test_a_callback_gets_its_own_connection_logger_record_and_args(
    tmp_path: Path, write_plugin: WritePlugin, connections: Connections
) -> None:
    write_plugin(
        "p",
        "creds.py",
        """
        seen = []
        state = {"count": 0}

        def registerCallbacks(reg):
            reg.registerCallback("alpha", "alpha-key", one, None, state)
            reg.registerCallback("beta", "beta-key", two, None, state)

        def one(sg, logger, event, args):
            args["count"] += 1
            seen.append(("one", sg, logger.name, type(event).__name__, event["id"]))

        def two(sg, logger, event, args):
            seen.append(("two", sg, logger.name, args["count"]))
        """,
    )
    processor, found = load(tmp_path, "p", connect=connections)
    assert connections.made == []  # registration makes no request, nor a connection
    processor.run(task_change(1))
    processor.run(task_change(2))
    seen = found.plugins[0].module.seen
    assert seen[0] == ("one", ("sg", "alpha", "alpha-key"), "plugin.creds.one", "dict", 1)
    assert seen[1] == ("two", ("sg", "beta", "beta-key"), "plugin.creds.two", 1)
    assert seen[3][3] == 2  # shared state through args
    assert connections.made == [("alpha", "alpha-key"), ("beta", "beta-key")]  # once each


def test_stop_on_error_skips_the_rest_of_its_plugin_only(
    tmp_path: Path, write_plugin: WritePlugin
) -> None:
    write_plugin(
        "p",
        "a_fails.py",
        """
        calls = []

        def registerCallbacks(reg):
            reg.registerCallback("s", "k", careless, stopOnError=False)
            reg.registerCallback("s", "k", after_careless)
            reg.registerCallback("s", "k", strict)
            reg.registerCallback("s", "k", after_strict)

        def careless(sg, logger, event, args):
            raise RuntimeError("careless")

        def after_careless(sg, logger, event, args):
            calls.append("after_careless")

        def strict(sg, logger, event, args):
            raise RuntimeError("strict")

        def after_strict(sg, logger, event, args):
            calls.append("after_strict")
        """,
    )
    write_plugin("p", "b_other.py", RECORDER.format(n="b_other"))
    processor, found = load(tmp_path, "p")
    report = processor.run(task_change(5))
    outcomes = {r.name: r.status for r in report.results}
    assert outcomes == {
        "a_fails.careless": Outcome.FAILED,
        "a_fails.after_careless": Outcome.OK,
        "a_fails.strict": Outcome.FAILED,
        "a_fails.after_strict": Outcome.SKIPPED,
        "b_other.first": Outcome.OK,
        "b_other.second": Outcome.OK,
    }
    assert found.plugins[0].module.calls == ["after_careless"]
    assert processor.spec("a_fails.careless").on_error is Policy.SKIP
    assert processor.spec("a_fails.strict").on_error is Policy.STOP
    # One plugin is one group (paused together); another plugin is not in it.
    assert processor.graph.group("a_fails.careless") == frozenset(
        f"a_fails.{n}" for n in ("careless", "after_careless", "strict", "after_strict")
    )
    assert "b_other.first" not in processor.graph.group("a_fails.strict")


def test_native_handlers_require_and_are_required_by_classic_callbacks(
    tmp_path: Path, write_plugin: WritePlugin
) -> None:
    write_plugin("p", "a.py", RECORDER.format(n="a"))
    write_plugin("p", "b.py", RECORDER.format(n="b"))
    processor, _ = load(tmp_path, "p")
    order: list[str] = []

    def zz_before(ctx: Any, event: Any) -> None:
        order.append("zz_before")

    def aa_after(ctx: Any, event: Any) -> None:
        order.append("aa_after")

    from evframe import required_by

    processor.register(required_by("b.first")(zz_before))
    processor.register(requires("a.second")(aa_after))
    names = processor.names
    assert names.index("a.first") < names.index("a.second") < names.index("aa_after")
    assert names.index("zz_before") < names.index("b.first")
    assert names.index("a.second") < names.index("b.first")  # classic order kept

    def contradiction(ctx: Any, event: Any) -> None:
        pass

    # Before a.first and after b.second: impossible with a before b.
    processor.register(requires("b.second")(required_by("a.first")(contradiction)))
    with pytest.raises(CycleError, match="classic plugins keep"):
        processor.finalize()


def test_match_events_filter_the_calls(tmp_path: Path, write_plugin: WritePlugin) -> None:
    write_plugin("p", "m.py", RECORDER.format(n="m"))
    processor, _ = load(tmp_path, "p")
    from evframe import ShotgunEvent

    shot_new = ShotgunEvent(make_record("Shotgun_Shot_New", id=9, entity={"type": "Shot", "id": 2}))
    assert processor.wanted_by(shot_new) == ["m.second"]
    assert processor.wanted_by(task_change(10)) == ["m.first", "m.second"]
    assert "matchEvents" in processor.spec("m.first").wants[0].describe()


def test_plugin_module_globals_are_shared_between_callbacks(
    tmp_path: Path, write_plugin: WritePlugin
) -> None:
    write_plugin(
        "p",
        "glob.py",
        """
        last = {}

        def registerCallbacks(reg):
            reg.registerCallback("s", "k", remember)
            reg.registerCallback("s", "k", use)

        def remember(sg, logger, event, args):
            last["id"] = event["id"]

        def use(sg, logger, event, args):
            last["seen"] = last["id"]
        """,
    )
    processor: Processor
    processor, found = load(tmp_path, "p")
    processor.run(task_change(42))
    assert found.plugins[0].module.last == {"id": 42, "seen": 42}
