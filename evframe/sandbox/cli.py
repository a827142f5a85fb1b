"""``evframe sandbox``: run a local Flow Production Tracking site in the foreground."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from evframe.sandbox.faults import ERROR_KINDS, Faults
from evframe.sandbox.instance import SEEDS, Sandbox
from evframe.sandbox.schema import parse_field_option
from evframe.sandbox.webhooks import MAX_BATCH, WebhookTarget, parse_target

DEFAULT_SCRIPT = ("evframe", "evframe-sandbox-key")


def _script(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, key = value.partition(":")
        if not sep or not name or not key:
            raise click.BadParameter(f"{value!r}: expected NAME:KEY, e.g. my_script:s3cret")
        out[name] = key
    return out


def _fields(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    for value in values:
        try:
            parse_field_option(value)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
    return list(values)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on; 0 picks a free one (the URL is printed).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file holding the site's data; reused on restart. Default: in memory.",
)
@click.option(
    "--seed",
    type=click.Choice(SEEDS),
    help="Create demo data: a project with sequences, shots, assets, tasks, steps, users "
    "(skipped when the database already has a project).",
)
@click.option(
    "--script",
    "scripts",
    multiple=True,
    callback=_script,
    metavar="NAME:KEY",
    help="A script (ApiUser) clients may log in as. Repeatable. "
    f"Default: {DEFAULT_SCRIPT[0]}:{DEFAULT_SCRIPT[1]}.",
)
@click.option(
    "--schema",
    "schema_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Schema extension JSON file adding fields or entity types. Repeatable.",
)
@click.option(
    "--field",
    "fields",
    multiple=True,
    callback=_fields,
    metavar="TYPE.FIELD:DATA_TYPE[:CHOICES]",
    help="Add a custom field, e.g. Shot.sg_foo:text, Shot.sg_hero:entity:Asset, "
    "Task.sg_kind:list:a,b. Repeatable.",
)
@click.option(
    "--page-size",
    default=500,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Most rows per read page (what clients page by).",
)
@click.option(
    "--latency",
    default=0.0,
    type=click.FloatRange(0),
    help="Fault: seconds added to every api3 request.",
)
@click.option(
    "--maintenance", is_flag=True, help="Fault: answer HTTP 503 (maintenance) until turned off."
)
@click.option(
    "--drop-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Fault: fraction of requests whose connection is closed without a reply.",
)
@click.option(
    "--error-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Fault: fraction of requests answered with an error.",
)
@click.option(
    "--error-kind",
    default="http500",
    show_default=True,
    type=click.Choice(ERROR_KINDS),
    help="Fault: the error --error-rate answers: HTTP 500, or an api3 exception reply.",
)
@click.option(
    "--fault-seed", type=int, help="Random seed for the fault fractions (reproducible runs)."
)
@click.option(
    "--webhook",
    "webhooks",
    multiple=True,
    metavar="URL[:SECRET]",
    help="Post a webhook delivery for each event written to URL (with its path), signed "
    "with SECRET if given. Repeatable.",
)
@click.option(
    "--webhook-batch",
    default=1,
    show_default=True,
    type=click.IntRange(1, MAX_BATCH),
    help="Events per delivery; above 1 the batched format is used.",
)
@click.option(
    "--webhook-filter",
    "webhook_filters",
    multiple=True,
    metavar="TYPE[.FIELD]",
    help="Only deliver events of this entity type (or changes of this field). Repeatable.",
)
def sandbox_command(
    host: str,
    port: int,
    db: Path | None,
    seed: str | None,
    scripts: dict[str, str],
    schema_files: tuple[Path, ...],
    fields: list[str],
    page_size: int,
    latency: float,
    maintenance: bool,
    drop_rate: float,
    error_rate: float,
    error_kind: str,
    fault_seed: int | None,
    webhooks: tuple[str, ...],
    webhook_batch: int,
    webhook_filters: tuple[str, ...],
) -> None:
    """Run a local Flow Production Tracking (ShotGrid) site for tests and demos.

    The sandbox speaks the same api3 JSON protocol as a hosted site, so
    shotgun_api3 (and so "evframe serve" and your handlers) work against it
    unchanged: point them at the printed URL with the printed script name and
    key.  Writes produce EventLogEntry rows as a real site does.

    The first line printed is always "evframe sandbox listening on URL".
    Faults set here can be changed while it runs:

    \b
      curl -s localhost:PORT/_sandbox/faults                         # show
      curl -s -d '{"maintenance": 30}' localhost:PORT/_sandbox/faults  # 503 for 30 s
      curl -s -d '{"reset": true}' localhost:PORT/_sandbox/faults     # all off

    Stop it with Ctrl-C or SIGTERM (exit status 0).
    """
    faults = Faults(
        latency=latency,
        drop_rate=drop_rate,
        error_rate=error_rate,
        error_kind=error_kind,
        seed=fault_seed,
    )
    if maintenance:
        faults.maintenance(True)
    if not scripts:
        scripts = dict([DEFAULT_SCRIPT])
    try:
        targets: list[WebhookTarget] = [
            parse_target(w, batch=webhook_batch, filters=webhook_filters) for w in webhooks
        ]
        sandbox = Sandbox(
            db,
            seed=seed,
            scripts=scripts,
            host=host,
            port=port,
            schema=schema_files,
            fields=fields,
            faults=faults,
            page_size=page_size,
            webhooks=targets,
        )
        if fault_seed is not None:
            sandbox.webhooks.faults.rng.seed(fault_seed)
        sandbox.start()
    except (ValueError, OSError) as exc:
        raise click.ClickException(str(exc)) from None

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        click.echo(f"evframe sandbox listening on {sandbox.url}")
        for name, key in scripts.items():
            click.echo(f"script: {name}  key: {key}")
        click.echo(f"database: {db if db else 'in memory (lost on exit)'}")
        click.echo(f"faults: {sandbox.url}/_sandbox/faults (GET to show, POST JSON to change)")
        for target in targets:
            signed = "signed" if target.secret else "unsigned"
            click.echo(f"webhook: {target.url} ({signed}; {sandbox.url}/_sandbox/webhooks)")
        click.echo(
            f'try: python -c "import shotgun_api3; sg = shotgun_api3.Shotgun('
            f"'{sandbox.url}', '{next(iter(scripts))}', '{scripts[next(iter(scripts))]}'); "
            "print(sg.find('Project', [], ['name']))\""
        )
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    click.echo("evframe sandbox stopped")
