"""A handler module that cannot be imported: it needs a module that does not exist."""

import evframe_no_such_module  # noqa: F401


def handler(ctx, event):  # pragma: no cover - never importable
    pass
