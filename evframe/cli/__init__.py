"""The ``evframe`` command line: one module per command family.

- :mod:`~evframe.cli.main`: the click group, ``--version``, the commands;
- :mod:`~evframe.cli._common`: shared options, config loading, errors and exit codes,
  logging set-up (the only place evframe configures logging), tables;
- :mod:`~evframe.cli.serve` (with :mod:`~evframe.cli._demo`, the embedded demo site),
  :mod:`~evframe.cli.check`, :mod:`~evframe.cli.handlers`, :mod:`~evframe.cli.graph`,
  :mod:`~evframe.cli.state`, :mod:`~evframe.cli.replay`: the commands;
  :mod:`~evframe.cli._views`: the handler set and state file as the tools see them.

``evframe sandbox`` lives in :mod:`evframe.sandbox.cli`.
"""

from __future__ import annotations

from evframe.cli.main import main as main

__all__ = ["main"]
