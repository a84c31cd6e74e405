"""`aetui queue`'s grids: a comma list in a grid flag queues one job per combination.

Which flags are grid axes (and how their values read) is the table `GRID_AXES`; which
are model options, not spec fields, is the model catalog's `OPTIONS`. Nothing else:
`train_specs` turns the verb's flags into the training spec dicts to validate.
"""

from __future__ import annotations

import itertools
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


def train_specs(flags: dict[str, Any]) -> list[dict[str, Any]]:
    """One training spec dict per combination of the grid axes' values (unset flags,
    None, are left out so the spec's defaults apply)."""
    values = {name: split_list(value, GRID_AXES[name], flag_of(name)) if name in GRID_AXES else value
              for name, value in flags.items() if value is not None}
    axes = {name: value for name, value in values.items() if isinstance(value, list)}
    count = math.prod(len(value) for value in axes.values())
    if count > LIMITS["grid_jobs"]:
        raise UserError(f"this grid makes {count} jobs; at most {LIMITS['grid_jobs']} at once")
    specs = []
    for combo in itertools.product(*axes.values()):
        one = {**values, **dict(zip(axes, combo))}
        spec = {name: value for name, value in one.items() if name not in MODEL_OPTIONS}
        spec["options"] = {name: value for name, value in one.items() if name in MODEL_OPTIONS}
        specs.append(spec)
    return specs


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
