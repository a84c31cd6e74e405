"""Options every verb shares, defined once, and the error handling every verb uses."""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import Annotated, Any, Callable, Optional

import typer

from aetui.errors import UserError

HomeOpt = Annotated[Optional[str], typer.Option("--home", help="aetui home folder (default: $AETUI_HOME, else ~/.local/share/aetui)", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]
RunsRootOpt = Annotated[Optional[str], typer.Option("--runs-root", help="folder of the run folders (default: $AETUI_RUNS_ROOT, else <home>/runs); with several machines, one they all mount", show_default=False)]
JobIdArg = Annotated[int, typer.Argument(help="job id (see `aetui runs`)", show_default=False)]


def home_of(home: str | None, runs_root: str | None = None):
    from aetui.home import Home

    return Home.resolve(home, runs_root)


def fail(message: str) -> None:
    """One clear line on stderr and exit code 2."""
    typer.echo(f"aetui: error: {message}", err=True)
    raise typer.Exit(2)


def user_errors(fn: Callable) -> Callable:
    """Turn the errors a user can fix into one line and exit 2 (AETUI_DEBUG=1: traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (UserError, ValueError, FileNotFoundError) as e:
            if os.environ.get("AETUI_DEBUG"):
                raise
            fail(str(e) or type(e).__name__)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None

    return wrapper


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
