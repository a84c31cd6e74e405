"""The base of every screen that shows pictures (a run, its results, a comparison).

Kitty keeps its pictures above the text layer, so repainting cells does not hide them:
a screen that shows pictures takes them off the terminal when another screen covers it
or it closes, and draws them again when it is back on top.
"""

from __future__ import annotations

from textual.screen import Screen

from aetui.tui.widgets.image_view import resume_graphics, suspend_graphics


class GraphicsScreen(Screen):
    def on_screen_suspend(self) -> None:
        suspend_graphics(self)

    def on_screen_resume(self) -> None:
        resume_graphics(self)

    def action_back(self) -> None:
        suspend_graphics(self)
        self.dismiss()
