"""The site ``evframe serve`` runs on when none is configured: an in-process sandbox
with demo data, and an artist changing task statuses now and then.

Its data and the daemon's state live in one directory.  When ``serve`` restarts
itself in place (a new handler set), the directory and the port are handed to the
new process through the environment, so it comes back to the same site (the state
file is keyed on the site URL) and resumes from its cursor.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Final

from evframe.cli._common import CliError
from evframe.config import Config

__all__ = ["DEMO_DIR_ENV", "DEMO_PORT_ENV", "DemoSite", "start_demo"]

log = logging.getLogger("evframe.cli")

DEMO_SCRIPT: Final = ("evframe", "evframe-demo-key")
DEMO_ARTIST: Final = "ann"  # a HumanUser login of the demo data
# Set by ``serve`` for the process it restarts into; read and removed by that process.
DEMO_DIR_ENV: Final = "EVFRAME_DEMO_DIR"
DEMO_PORT_ENV: Final = "EVFRAME_DEMO_PORT"
_STATUSES: Final = ("wtg", "rdy", "ip", "rev", "fin")


@dataclasses.dataclass
class DemoSite:
    """A running demo sandbox, its directory, and the demo activity."""

    sandbox: Any
    directory: Path
    port: int  # the port it listens on (kept: the sandbox forgets it once stopped)
    activity: threading.Event = dataclasses.field(default_factory=threading.Event)

    def handover(self) -> dict[str, str]:
        """What the restarted process needs to come back to this site."""
        return {DEMO_DIR_ENV: str(self.directory), DEMO_PORT_ENV: str(self.port)}

    def stop(self, *, keep: bool) -> None:
        """Stop the activity and the sandbox; remove the directory unless ``keep``
        (a restarted process takes it over)."""
        self.activity.set()
        self.sandbox.stop()
        if not keep:
            # A fresh sandbox is a fresh site: its state must not outlive it.
            shutil.rmtree(self.directory, ignore_errors=True)

    def start_activity(self, interval: float) -> None:
        """Change a task's status every ``interval`` seconds, so handlers have work."""
        thread = threading.Thread(
            target=self._activity, args=(interval,), name="evframe-demo-activity", daemon=True
        )
        thread.start()

    def _activity(self, interval: float) -> None:
        # As an artist of the demo project: handlers do not get the events their own
        # script (here the daemon's) caused.
        sg = self.sandbox.client(DEMO_SCRIPT[0], sudo_as_login=DEMO_ARTIST)
        tasks = sg.find("Task", [], ["id"])
        rng = random.Random()
        while tasks and not self.activity.wait(interval):
            task = rng.choice(tasks)
            try:
                sg.update("Task", task["id"], {"sg_status_list": rng.choice(_STATUSES)})
            except Exception:  # the demo must never take the daemon down
                log.debug("demo activity failed", exc_info=True)


def start_demo(config: Config, state_given: bool, interval: float) -> tuple[Config, DemoSite]:
    """Start the demo site (the one a restarted ``serve`` was handed, if any) and return
    the config pointing at it."""
    from evframe.sandbox import Sandbox

    inherited = os.environ.pop(DEMO_DIR_ENV, None)
    port = int(os.environ.pop(DEMO_PORT_ENV, "0"))
    directory = Path(inherited) if inherited else Path(tempfile.mkdtemp(prefix="evframe-demo-"))
    sandbox = Sandbox(directory / "site.db", seed="demo", scripts=dict([DEMO_SCRIPT]), port=port)
    try:
        sandbox.start()
    except OSError as exc:
        sandbox.stop()
        raise CliError(f"cannot serve the demo site on port {port}: {exc}") from None
    site = dataclasses.replace(
        config.site, url=sandbox.url, script_name=DEMO_SCRIPT[0], api_key=DEMO_SCRIPT[1]
    )
    daemon_cfg = dataclasses.replace(config.daemon, start="earliest")
    if not state_given:
        daemon_cfg = dataclasses.replace(daemon_cfg, state=str(directory / "state.db"))
    if inherited:
        log.info("back on the embedded demo sandbox at %s (data in %s)", sandbox.url, directory)
    else:
        log.warning(
            "no site configured (set EVFRAME_SITE_URL or [site] url): serving an embedded "
            "sandbox with demo data at %s (its data and the state in %s)",
            sandbox.url,
            directory,
        )
    demo = DemoSite(sandbox, directory, sandbox.port)
    if interval > 0:
        demo.start_activity(interval)
    return dataclasses.replace(config, site=site, daemon=daemon_cfg), demo
