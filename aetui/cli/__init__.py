"""The `aetui` command: Typer app wired from one module per command group.

Nothing here imports torch, sqlmodel or textual at import time; each command imports
what it needs when it runs, so `aetui --help` starts fast.
"""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

from typing import Annotated, Optional

import typer

from aetui.cli import command_cmds, completion, config_cmds, db_cmds, experiment_cmds, jobs_cmds, report_cmds, work_cmds
from aetui.cli.options import HomeOpt, user_errors

app = typer.Typer(
    name="aetui",
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

jobs_cmds.register(app)
command_cmds.register(app)
work_cmds.register(app)
db_cmds.register(app)
experiment_cmds.register(app)
report_cmds.register(app)
completion.register(app)
config_cmds.register(app)


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

    instruction = os.environ.get(completion.COMPLETE_VAR)
    if instruction:  # the shell asks for completions (Click's protocol; aetui.cli.completion)
        raise SystemExit(completion.answer(app, instruction))
    app()
