"""Every verb of `aetui`: the module that defines it and the line `aetui --help` shows.

The verbs' modules are imported only when a verb runs (or its help, or a TAB after it), so
`aetui --help`, `aetui queue` and a shell's TAB on a job id pay for one module each, not
for all of them (benchmarks/cli_start.py). This table is why `aetui --help` can list them
without importing any; `LazyVerbs.get_command` imports the one asked for.
"""

from dataclasses import dataclass
from difflib import get_close_matches
from importlib import import_module
from typing import Any, Optional

import typer
from typer.core import TyperGroup


PROG = "aetui"
COMPLETE_VAR = "_AETUI_COMPLETE"  # set by the completion scripts' TAB (aetui.cli.completion)


@dataclass(frozen=True)
class Verb:
    module: str  # aetui.cli.<module>: its `register(app)` adds the verb
    summary: str  # its line in `aetui --help` and in a shell's TAB (fits 80 columns)
    hidden: bool = False


VERBS: dict[str, Verb] = {
    "queue": Verb("jobs_cmds", "Queue a training job (a grid when an option has a list)."),
    "runs": Verb("jobs_cmds", "List jobs and runs, newest first; filter and sort."),
    "show": Verb("jobs_cmds", "Everything about one job: spec, status, results, files."),
    "cancel": Verb("jobs_cmds", "Cancel a queued job, or stop a running one."),
    "retry": Verb("jobs_cmds", "Queue a failed or cancelled job again (it resumes)."),
    "priority": Verb("jobs_cmds", "Change a job's priority."),
    "delete": Verb("jobs_cmds", "Delete a finished job: its rows and its run folder."),
    "pause": Verb("jobs_cmds", "Pause the queue: running jobs go on, no new job starts."),
    "resume": Verb("jobs_cmds", "Resume a paused queue."),
    "tag": Verb("jobs_cmds", "Tag a job, or untag it (--remove)."),
    "note": Verb("jobs_cmds", "Write a free-text note on a job."),
    "add": Verb("command_cmds", "Queue any program (no shell) for the workers, with GPUs."),
    "log": Verb("command_cmds", "Print a job's output (stdout, stderr); --follow."),
    "wait": Verb("command_cmds", "Wait until jobs end; exit 0 when every one is done."),
    "worker": Verb("work_cmds", "Run queued jobs, one per device at a time."),
    "worker-detached": Verb("work_cmds", "The background worker's own process.", hidden=True),
    "demo": Verb("work_cmds", "Train a small U-Net on the built-in images (~1 min)."),
    "tb": Verb("work_cmds", "Start TensorBoard on the runs folder."),
    "sweep": Verb("experiment_cmds", "Noise sweep: input vs output error per noise level."),
    "walk": Verb("experiment_cmds", "Manifold walk: chains of images through the model."),
    "probe": Verb("experiment_cmds", "Representation probe: the input a layer implies."),
    "report": Verb("report_cmds", "Write a self-contained HTML (or Markdown) report."),
    "completion": Verb("completion", "Print the shell completion script (bash, zsh, fish)."),
    "config": Verb("config_cmds", "Print the effective settings and where each came from."),
    "db": Verb("db_cmds", "The store: status, upgrade, check, backup, restore."),
    "notify": Verb("config_cmds", "Notifications when jobs end: `aetui notify test`."),
}


class LazyVerbs(TyperGroup):
    """The `aetui` group: lists verbs from `VERBS`, imports a verb's module on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*VERBS, *(name for name in self.commands if name not in VERBS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Optional[Any]:
        if cmd_name not in self.commands and cmd_name in VERBS:
            self._load(VERBS[cmd_name].module)
        return self.commands.get(cmd_name)

    def _load(self, module: str) -> None:
        """Register a module's verbs on a Typer of their own and adopt its Click commands."""
        app = typer.Typer(rich_markup_mode=None, add_completion=False)
        import_module(f"aetui.cli.{module}").register(app)
        for name, command in typer.main.get_group(app).commands.items():
            verb = VERBS.get(name)
            if verb is None:
                raise RuntimeError(f"aetui.cli.{module} registers {name!r}, which aetui.cli.verbs.VERBS lacks")
            command.short_help, command.hidden = verb.summary, verb.hidden
            self.commands.setdefault(name, command)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        """The verbs and their summaries from the table: no module imported."""
        rows = [(name, verb.summary) for name, verb in VERBS.items() if not verb.hidden]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def shell_complete(self, ctx: Any, incomplete: str) -> list[Any]:
        """`aetui <TAB>`: the verbs from the table, then the group's own options."""
        try:  # Typer >= 0.2x vendors Click; before, Click is its dependency
            from typer._click.shell_completion import CompletionItem
        except ImportError:  # pragma: no cover
            from click.shell_completion import CompletionItem

        verbs = [CompletionItem(name, help=verb.summary) for name, verb in VERBS.items()
                 if name.startswith(incomplete) and not verb.hidden]
        return verbs + super(TyperGroup, self).shell_complete(ctx, incomplete)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """Typer's, with the "did you mean" drawn from every verb, loaded or not (Typer's own
        looks only at the commands it holds)."""
        try:
            return super().resolve_command(ctx, args)
        except Exception as e:  # Click's UsageError, vendored by Typer or not
            message = getattr(e, "message", None)
            if isinstance(message, str) and args and "Did you mean" not in message:
                names = [name for name, verb in VERBS.items() if not verb.hidden]
                matches = get_close_matches(args[0], names)
                if matches:
                    e.message = f"{message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
            raise


def all_commands() -> dict[str, Any]:
    """Every verb's Click command (each module imported): for tests and tools that walk them."""
    group = LazyVerbs(name=PROG)
    for name in VERBS:
        group.get_command(None, name)
    return dict(group.commands)
