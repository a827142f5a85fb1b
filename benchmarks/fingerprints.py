"""How much the reload check costs once editable installs' sources count.

``discovery.fingerprints`` runs every ``reload_interval`` seconds in the daemon.
For a regular install it stats the distribution's metadata; for an editable one
(``pip install -e``) it also walks the package's ``.py`` files.  This times both in
one run: the benchmark handlers (ten entry points, a regular install) and a
generated package of 200 modules with ten entry points, installed editable.
Prints one JSON line; ``ratio`` is editable / regular, ``share_of_interval`` the
editable check's time as a fraction of the default 5 s interval.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ensure_bench_handlers

from evframe.discovery import fingerprints

MODULES = 200
ROUNDS = 200
GROUP = "evframe.bench_fingerprints"


def make_package(root: Path) -> None:
    pkg = root / "evframe_bench_editable"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    for i in range(MODULES):
        (pkg / f"mod{i:03d}.py").write_text(f"def handler(ctx, event):\n    return None  # {i}\n")
    eps = "\n".join(f"    h{i} = evframe_bench_editable.mod{i:03d}:handler" for i in range(10))
    (root / "setup.cfg").write_text(
        "[metadata]\nname = evframe-bench-editable\nversion = 1.0\n\n"
        "[options]\npackages = evframe_bench_editable\n\n"
        f"[options.entry_points]\n{GROUP} =\n{eps}\n"
    )
    (root / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
    )


def pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", *args, "-q", "--disable-pip-version-check"]
    subprocess.run(cmd, check=True)


def per_call(group: str) -> float:
    fingerprints(group)  # warm the import system's caches, as a running daemon has them
    start = time.perf_counter()
    for _ in range(ROUNDS):
        fingerprints(group)
    return (time.perf_counter() - start) / ROUNDS


def main() -> None:
    ensure_bench_handlers()
    with tempfile.TemporaryDirectory(prefix="evframe-bench-") as tmp:
        root = Path(tmp) / "src"
        make_package(root)
        pip("install", "--no-deps", "--no-build-isolation", "--no-index", "-e", str(root))
        try:
            # The editable finder is set up at interpreter start: time in a fresh one.
            code = (
                "import sys, json; sys.path.insert(0, sys.argv[1]);"
                "from fingerprints import per_call;"
                "print(json.dumps([per_call('evframe.bench_handlers'), per_call(sys.argv[2])]))"
            )
            out = subprocess.run(
                [sys.executable, "-c", code, str(Path(__file__).parent), GROUP],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            regular, editable = json.loads(out.strip().splitlines()[-1])
        finally:
            pip("uninstall", "-y", "evframe-bench-editable")
    print(
        json.dumps(
            {
                "benchmark": "fingerprints",
                "regular_entry_points": 10,
                "editable_entry_points": 10,
                "editable_modules": MODULES,
                "regular_ms": round(regular * 1000, 3),
                "editable_ms": round(editable * 1000, 3),
                "ratio": round(editable / regular, 2),
                "share_of_interval": round(editable / 5.0, 6),
            }
        )
    )


if __name__ == "__main__":
    main()
