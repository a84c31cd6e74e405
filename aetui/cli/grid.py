"""`aetui queue`'s grids: a comma list in a grid flag queues one job per combination.

Which flags are grid axes (and how their values read) is the table `GRID_AXES`; which
are model options, not spec fields, is the model catalog's `OPTIONS`. Nothing else:
`train_specs` turns the verb's flags into the training spec dicts to validate.
"""

from __future__ import annotations

import itertools
import json
import math
from typing import Any, Callable

from aetui.defaults import LIMITS
from aetui.errors import UserError
from aetui.models.catalog import OPTIONS

# flags whose value may be a comma list (a grid axis), and the type of one value
GRID_AXES: dict[str, Callable[[str], Any]] = {
    "steps": int, "batch_size": int, "lr": float, "seed": int,
    "base_width": int, "depth": int, "width": int,
}
# flags that go into the spec's `options` (any model's), not into the spec itself
MODEL_OPTIONS = frozenset(option.name for options in OPTIONS.values() for option in options)


def train_specs(flags: dict[str, Any], opts: list[str] | tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One training spec dict per combination of the grid axes' values (unset flags,
    None, are left out so the spec's defaults apply). `opts`: `--opt KEY=VALUE` texts,
    model options whose comma lists are grid axes too."""
    values = {name: split_list(value, GRID_AXES[name], flag_of(name)) if name in GRID_AXES else value
              for name, value in flags.items() if value is not None}
    for key, value in parse_opts(opts).items():
        if key in values:
            raise UserError(f"--opt {key}: given twice (also as {flag_of(key) if key in MODEL_OPTIONS else '--opt'})")
        values[OPT_PREFIX + key] = value
    axes = {name: value for name, value in values.items() if isinstance(value, list)}
    count = math.prod(len(value) for value in axes.values())
    if count > LIMITS["grid_jobs"]:
        raise UserError(f"this grid makes {count} jobs; at most {LIMITS['grid_jobs']} at once")
    specs = []
    for combo in itertools.product(*axes.values()):
        one = {**values, **dict(zip(axes, combo))}
        spec = {name: value for name, value in one.items() if name not in MODEL_OPTIONS and not name.startswith(OPT_PREFIX)}
        spec["options"] = {name.removeprefix(OPT_PREFIX): value for name, value in one.items()
                           if name in MODEL_OPTIONS or name.startswith(OPT_PREFIX)}
        specs.append(spec)
    return specs


OPT_PREFIX = "opt:"  # `--opt key=...` axes, kept apart from the flags while the grid is built


def parse_opts(opts: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """`--opt KEY=VALUE`s: VALUE a JSON scalar (a bare word is a string), a comma list a
    grid axis (a list). UserError (one line) on anything else."""
    out: dict[str, Any] = {}
    for text in opts:
        key, sep, value = str(text).partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UserError(f"--opt {str(text)[:60]!r}: write KEY=VALUE, KEY a Python identifier")
        if key in out:
            raise UserError(f"--opt {key}: given twice")
        if len(value) > LIMITS["option_chars"]:
            raise UserError(f"--opt {key}: value too long ({len(value)} characters, at most {LIMITS['option_chars']})")
        if value.strip()[:1] in ("[", "{"):
            raise UserError(f"--opt {key}: {value.strip()[:40]!r} is not a JSON scalar (a number, true/false or a string)")
        values = [_scalar(key, v.strip()) for v in value.split(",")]
        if any(v == "" for v in values) and len(values) > 1:
            raise UserError(f"--opt {key}: an empty value in the list {value!r}")
        out[key] = values if len(values) > 1 else values[0]
    return out


def _scalar(key: str, text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return text  # a bare word: a string
    if isinstance(value, (list, dict)):
        raise UserError(f"--opt {key}: {text[:40]!r} is not a JSON scalar (a number, true/false or a string)")
    if isinstance(value, float) and not math.isfinite(value):
        raise UserError(f"--opt {key}: {text!r} is not a finite number")
    return value


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def split_list(text: Any, cast: Callable[[str], Any], flag: str) -> Any:
    """`1e-4,3e-4` -> [1e-4, 3e-4] (a grid axis); a single value stays a scalar."""
    try:
        values = [cast(v.strip()) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise UserError(f"{flag}: cannot read {text!r} as {cast.__name__} value(s)") from None
    if not values:
        raise UserError(f"{flag}: no value given")
    return values if len(values) > 1 else values[0]
