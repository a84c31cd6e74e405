"""The command palette's provider: every action bound on the current screen (its
focused widget, the screen, the app), found by its description or its key."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ActionsProvider(Provider):
    def _actions(self) -> list[tuple[str, str, object]]:
        """(text, help, callback) for each distinct action."""
        screen = self.screen
        out: dict[tuple[int, str], tuple[str, list[str], object, str]] = {}
        for key, active in screen.active_bindings.items():
            node, binding = active.node, active.binding
            if not binding.description or binding.action in ("command_palette",):
                continue
            entry = out.setdefault((id(node), binding.action),
                                   (binding.description, [], partial(node.run_action, binding.action),
                                    binding.tooltip))
            shown = binding.key_display or self.app.get_key_display(binding)
            if shown not in entry[1]:
                entry[1].append(shown)
        return [(desc, "key " + " ".join(keys) + (f" · {tip}" if tip else ""), cb)
                for desc, keys, cb, tip in out.values()]

    async def discover(self) -> Hits:
        for text, help_text, callback in sorted(self._actions(), key=lambda t: t[0]):
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, help_text, callback in self._actions():
            score = max(matcher.match(text), matcher.match(help_text) * 0.5)
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)
