"""The dashboard app: `aetui` with no command opens it.

`AetuiApp(home, graphics=...)` holds the `Home`, the chosen graphics mode and the
polling interval; screens read those attributes and do everything else themselves.
"""

from __future__ import annotations

from typing import Callable

from textual.app import App
from textual.binding import Binding

from aetui.home import Home
from aetui.status_style import job_table_css
from aetui.tui.commands import ActionsProvider
from aetui.tui.graphics import choose


class AetuiApp(App[None]):
    CSS_PATH = "app.tcss"
    CSS = job_table_css()  # the job table's status colours: aetui.status_style
    TITLE = "aetui"
    COMMANDS = App.COMMANDS | {ActionsProvider}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Keys"),
        Binding("ctrl+p", "command_palette", "Commands", show=False),
    ]

    def __init__(self, home: Home, graphics: str | None = None, *, poll_s: float = 1.0,
                 devices_sampler: Callable | None = None, bell: str = "off") -> None:
        super().__init__()
        self.home = home
        self.graphics = choose(graphics)
        self.poll_s = poll_s
        self.devices_sampler = devices_sampler  # tests give a fixed one; None: NVML or /proc
        self.bell_mode = bell  # on a job's end: off, bell (BEL) or osc9 (a desktop notice); [notify] bell

    def on_mount(self) -> None:
        from aetui.tui.data.notices import NoticeReader

        self._notices = NoticeReader(self.home)
        self._look_for_endings()  # from now on: what ended before is old news
        self.set_interval(max(1.0, self.poll_s), self._look_for_endings)

    def _look_for_endings(self) -> None:
        self.run_worker(self._read_endings, thread=True, group="notices", exclusive=True, exit_on_error=False)

    def _read_endings(self) -> None:
        try:
            lines = self._notices.new()
        except Exception:  # no store yet, or a busy one: the next look tries again
            return
        if lines:
            self.call_from_thread(self.show_endings, lines)

    def show_endings(self, lines: list[tuple[str, bool]]) -> None:
        """A toast per ended job (a summary past five), and the bell if asked for."""
        shown = lines if len(lines) <= 5 else [*lines[:4], (f"... and {len(lines) - 4} more jobs ended", False)]
        for text, bad in shown:
            self.notify(text, title="job ended", severity="warning" if bad else "information", timeout=8)
        if self.bell_mode == "bell":
            self.bell()
        elif self.bell_mode == "osc9" and self._driver is not None:
            # OSC 9: iTerm2, kitty, WezTerm, Windows Terminal, foot show it as a desktop notice
            self._driver.write("\x1b]9;aetui: " + lines[-1][0].replace("\x1b", "").replace("\x07", "") + "\x07")

    def get_default_screen(self):
        from aetui.tui.screens.main import MainScreen

        return MainScreen()

    def action_help(self) -> None:
        from aetui.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))


def quit_note(home: Home) -> str:
    """The line printed as the dashboard closes: whether a worker goes on running jobs."""
    from aetui.worker.registry import running_workers

    workers = running_workers(home)
    background = [str(w.get("pid")) for w in workers if w.get("detached")]
    if background:
        return (f"aetui: the background worker keeps running (pid {', '.join(background)}); "
                "`aetui worker --stop` stops it")
    if workers:
        return f"aetui: a worker keeps running in a terminal (pid {', '.join(str(w.get('pid')) for w in workers)})"
    return "aetui: no worker runs for this home; queued jobs wait for `aetui worker`"


def run_dashboard(home: Home, graphics: str | None = None) -> None:
    """Open the dashboard on `home` (blocks until the user quits), then say whether a
    worker keeps running (`quit_note`).

    A bad `--graphics` is the CLI's kind of error: one line and exit code 2.
    """
    import sys

    from aetui.errors import UserError

    from aetui import config

    try:
        app = AetuiApp(home, graphics=graphics, bell=config.value("notify.bell"))
    except UserError as e:
        print(f"aetui: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    app.run()
    try:
        print(quit_note(home))
    except OSError:  # an unreadable workers folder must not turn a quit into a traceback
        pass
