"""Which settings differ between job specs: what a comparison of several runs shows.

Standard library only (the CLI, the dashboard and the report import it). Nested settings
(a training spec's `options`) are compared one by one under dotted keys
(`options.base_width`); a setting one spec has and another lacks differs (the lacking
spec's value is None).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def flatten(spec: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"options": {"depth": 2}}` -> `{"options.depth": 2}`; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in spec.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def differing_settings(specs: Iterable[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Each setting whose value is not the same in every spec -> its value in each spec
    (in the specs' order), keys in the order they first appear."""
    flat = [flatten(s) for s in specs]
    keys: dict[str, None] = {}
    for f in flat:
        keys.update(dict.fromkeys(f))
    out: dict[str, list[Any]] = {}
    for key in keys:
        values = [f.get(key) for f in flat]
        if any(v != values[0] for v in values[1:]):
            out[key] = values
    return out
