"""The `aetui` command: a Typer app whose verbs live one module per group (`aetui.cli.verbs`
says which), each imported when its verb is used.

Nothing here imports torch, sqlmodel or textual at import time, nor any verb's module;
each command imports what it needs when it runs, so `aetui --help` starts fast.
"""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

from typing import Annotated, Optional

import typer

from aetui.cli.options import HomeOpt, user_errors
from aetui.cli.verbs import COMPLETE_VAR, PROG, LazyVerbs

app = typer.Typer(
    name=PROG,
    cls=LazyVerbs,
    help="A terminal experiment manager for autoencoder research.\n\n"
         "Run `aetui` alone for the dashboard; `aetui queue unet --res 64` queues a job; "
         "`aetui worker` runs the queue.",
    no_args_is_help=False,
    invoke_without_command=True,
    pretty_exceptions_enable=False,
    # plain (click) help: rich help panels cost ~0.15 s of imports (typer.rich_utils, markdown)
    # on every `--help`, half of that command's start-up (benchmarks/cli_start.py)
    rich_markup_mode=None,
    add_completion=False,  # `aetui completion SHELL` instead: static scripts, Click's protocol
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def dashboard(
    ctx: typer.Context,
    home: HomeOpt = None,
    graphics: Annotated[Optional[str], typer.Option(help="image drawing: auto, kitty, sixel or halfblock")] = None,
) -> None:
    """Open the dashboard when no command is given."""
    from aetui.cli.options import GLOBAL_HOME

    GLOBAL_HOME.set(home)  # `aetui --home H queue ...`: the verb's own --home wins
    if ctx.invoked_subcommand is not None:
        return
    open_dashboard(home=home, graphics=graphics)


@user_errors
def open_dashboard(*, home: Optional[str], graphics: Optional[str]) -> None:
    """The dashboard on a usable home (a bad `--home` is one line and exit 2, as for a verb)."""
    from aetui.cli.options import home_of
    from aetui.tui.app import run_dashboard

    from aetui import config

    run_dashboard(home_of(home), graphics=config.value("graphics", graphics))


def main() -> None:
    import os

    instruction = os.environ.get(COMPLETE_VAR)
    if instruction:  # the shell asks for completions (Click's protocol; aetui.cli.completion)
        from aetui.cli import completion

        raise SystemExit(completion.answer(app, instruction))
    app()
