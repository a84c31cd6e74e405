"""Options every verb shares, defined once, and the error handling every verb uses."""

from __future__ import annotations

import functools
import json
import os
import sys
from contextvars import ContextVar
from typing import Annotated, Any, Callable, Optional

import typer
from typer.exceptions import TyperException

from aetui.cli import completers
from aetui.errors import UserError

HomeOpt = Annotated[Optional[str], typer.Option("--home", help="aetui home folder (default: $AETUI_HOME, else ~/.local/share/aetui)", show_default=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="print machine-readable JSON")]
RunsRootOpt = Annotated[Optional[str], typer.Option("--runs-root", help="folder of the run folders (default: $AETUI_RUNS_ROOT, else <home>/runs); with several machines, one they all mount", show_default=False)]
JobIdArg = Annotated[int, typer.Argument(help="job id (see `aetui runs`)", show_default=False,
                                         autocompletion=completers.job_ids)]


def home_of(home: str | None, runs_root: str | None = None, *, needs: str | None = None, write: bool = True):
    """The verb's home, checked before anything is written (UserError, one line, if not usable).

    `--home` given before the verb (`aetui --home H queue ...`) counts when the verb has
    none of its own. `needs`: a verb that only reads or changes jobs (show, cancel, ...)
    needs a home with a store and never creates one; without one it says `needs` ("no job
    3") and that there is no home. `write`: the verb writes, so the home
    (or the folder it will be made in) and `--runs-root` must be writable folders.
    """
    from aetui.cli.home_checks import check_home

    if home is None:
        home = global_home()
    return check_home(home, runs_root, needs=needs, write=write)


# `--home` as given before the verb (`aetui --home H queue`): the app's callback, which
# runs first on every command, sets it
GLOBAL_HOME: ContextVar[str | None] = ContextVar("GLOBAL_HOME", default=None)


def global_home() -> str | None:
    """`--home` as given before the verb; None if not given."""
    return GLOBAL_HOME.get()


def from_config(param: str, key: str, given: Any) -> Any:
    """A verb's option `param` as given on the command line; when it was left at its
    default, the environment's or config file's `key` instead (`aetui.config`: flag >
    environment > file > default). Called outside a command line (a test calling the
    function), `given` stands."""
    try:
        from typer._click.globals import get_current_context
    except ImportError:  # a Typer on click itself
        from click import get_current_context
    ctx = get_current_context(silent=True)
    source = ctx.get_parameter_source(param) if ctx is not None else None
    if source is None or source.name != "DEFAULT":
        return given
    from aetui import config

    setting = config.resolve(key)
    return given if setting.source == "default" or setting.value is None else setting.value


def check_job_id(job_id: int, what: str = "job") -> int:
    """A job id the store can hold: larger ones (or 0 and below) name no job."""
    from aetui.defaults import LIMITS

    if not 1 <= job_id <= LIMITS["job_id"]:
        raise UserError(f"no {what} {job_id}" if what == "job" else f"{what} job {job_id} does not exist")
    return job_id


def check_priority(value: int) -> int:
    from aetui.defaults import LIMITS

    limit = LIMITS["priority"]
    if not -limit <= value <= limit:
        raise UserError(f"--priority {value}: between -{limit} and {limit}")
    return value


def check_number(value: float, flag: str, *, low: float, high: float, low_open: bool = False) -> float:
    """A float flag that is finite and in range (click's FloatRange lets nan through)."""
    import math

    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        bound = f"above {low:g}" if low_open else f"at least {low:g}"
        raise UserError(f"{flag} {value}: a number {bound} and at most {high:g}")
    return value


def fail(message: str) -> None:
    """One clear line on stderr and exit code 2."""
    typer.echo(f"aetui: error: {message}", err=True)
    raise typer.Exit(2)


EXIT_BUG = 70  # EX_SOFTWARE: an internal error, not the user's


def user_errors(fn: Callable) -> Callable:
    """A verb's way out on an error. A user's error (`UserError`, or one of the store's own
    refusals) is one line and exit 2. Anything else is a bug: one line naming a log file
    that holds the traceback, exit 70. AETUI_DEBUG=1: every error raises as it is."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, TyperException):
            raise  # typer's own exits and usage errors
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except Exception as e:
            if os.environ.get("AETUI_DEBUG"):
                raise
            if is_user_error(e):
                fail(str(e) or type(e).__name__)
            from aetui.cli import crash_log

            log = crash_log.write(e, fn.__name__.rstrip("_"), kwargs.get("home") or global_home())
            summary = (str(e).splitlines() or [""])[0][:200]
            typer.echo(f"aetui: internal error ({type(e).__name__}{': ' + summary if summary else ''}); "
                       f"the traceback is in {log}", err=True)
            raise typer.Exit(EXIT_BUG) from None

    return wrapper


def is_user_error(e: BaseException) -> bool:
    """`UserError`, or the store's refusals (`QueueError`, `SchemaError`, `StoreDamaged`):
    the store sits below aetui and does not know `UserError`. They are looked up among the loaded
    modules, so checking costs no import: a module never loaded raised nothing."""
    if isinstance(e, UserError):
        return True
    for module, name in (("store.queue", "QueueError"), ("store.migrations", "SchemaError"),
                         ("store.health", "StoreDamaged")):
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(e, getattr(loaded, name)):
            return True
    return False


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
