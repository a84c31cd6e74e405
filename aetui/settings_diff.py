"""Which settings differ within a set of specs, and how to say them in a few words.

One function (`differing`) decides it for every place that tells runs apart: the labels
of a grid's jobs (`aetui.jobs.submit`), the names TensorBoard shows (`aetui.tb_launch`)
and the Compare screen's table of settings. Specs are the stored JSON dicts; a model's
options count as settings of their own (`base_width`, not `options`). Standard library
only: the CLI, the dashboard and the store's readers import it cheaply.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

# what names a kind of job, not one of its settings
NOT_SETTINGS = ("kind",)
MISSING = "—"


def flat(spec: dict[str, Any]) -> dict[str, Any]:
    """A spec's settings as one level: its fields, then its model options by name."""
    out = {k: v for k, v in spec.items() if k not in NOT_SETTINGS and k != "options"}
    for key, value in (spec.get("options") or {}).items():
        out.setdefault(key, value)
    return out


def differing(specs: Iterable[dict[str, Any]]) -> list[str]:
    """The settings whose values are not all the same across the specs (a setting one
    spec lacks differs too), in the order they first appear. One spec: none."""
    flats = [flat(s) for s in specs]
    if len(flats) < 2:
        return []
    keys = list(dict.fromkeys(k for f in flats for k in f))
    return [k for k in keys if len({_key(f.get(k, MISSING)) for f in flats}) > 1]


def show(value: Any) -> str:
    """A setting's value in a word: 0.001 as 0.001, 1e-05 as 1e-05, lists joined by commas."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(show(v) for v in value)
    if value is None:
        return MISSING
    return str(value)


def describe(spec: dict[str, Any], keys: Iterable[str], *, skip: str = "") -> str:
    """`lr=0.001 seed=1`: the spec's values of these settings (absent ones left out).
    Words already in `skip` (a label) are not repeated."""
    words = set(skip.split())
    settings = flat(spec)
    parts = [f"{k}={show(settings[k])}" for k in keys if k in settings]
    return " ".join(p for p in parts if p not in words)


def labelled(label: str, spec: dict[str, Any], keys: Iterable[str]) -> str:
    """A label with the differing settings it does not say yet, e.g.
    `unet res32 builtin:256` -> `unet res32 builtin:256 lr=0.001 seed=1`."""
    extra = describe(spec, keys, skip=label)
    return f"{label} {extra}".strip() if extra else label


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
