"""Job specs: validated once here, shared by the CLI, the dashboard and the worker.

Specs are data: pydantic models over the torch-free catalogs (models, data,
corruptions), so validating a spec never imports torch. A spec round-trips through JSON
in the store (`Job.spec`). One module per kind of spec; `SPEC_TYPES` below is the table
of job kinds. Runners (`aetui.experiments`) import specs, never the reverse.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from aetui.errors import UserError
from aetui.specs.model_info import ModelInfo, layer_names

if TYPE_CHECKING:
    from aetui.specs.command import CommandSpec
    from aetui.specs.experiments import ProbeSpec, SweepSpec, WalkSpec
    from aetui.specs.noop import NoopSpec
    from aetui.specs.train import TrainSpec

__all__ = ["SPEC_TYPES", "CommandSpec", "ModelInfo", "NoopSpec", "ProbeSpec", "SweepSpec", "TrainSpec", "WalkSpec",
           "cls_fields", "layer_names", "one_line", "parse_spec"]

# job kind -> (module under aetui.specs, class): the table of job kinds
_KINDS: dict[str, tuple[str, str]] = {
    "train": ("train", "TrainSpec"),
    "sweep": ("experiments", "SweepSpec"),
    "walk": ("experiments", "WalkSpec"),
    "probe": ("experiments", "ProbeSpec"),
    "command": ("command", "CommandSpec"),  # any program (`aetui add -- CMD ...`)
    "noop": ("noop", "NoopSpec"),  # hidden: a test and benchmark aid for the queue
}


class _SpecTypes(Mapping[str, "type[BaseModel]"]):
    """`SPEC_TYPES[kind]` is the spec class of a job kind, its module imported on first use:
    building pydantic models costs milliseconds each, and `aetui queue unet` or `aetui runs`
    needs one kind or none (benchmarks/cli_start.py)."""

    def __getitem__(self, kind: str) -> type[BaseModel]:
        module, name = _KINDS[kind]
        return getattr(import_module(f"aetui.specs.{module}"), name)

    def __iter__(self) -> Iterator[str]:
        return iter(_KINDS)

    def __len__(self) -> int:
        return len(_KINDS)


SPEC_TYPES: Mapping[str, type[BaseModel]] = _SpecTypes()
_CLASSES = {name: kind for kind, (_, name) in _KINDS.items()}


def __getattr__(name: str) -> Any:
    """`from aetui.specs import TrainSpec` imports that spec's module only."""
    if name in _CLASSES:
        return SPEC_TYPES[_CLASSES[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def parse_spec(kind: str, data: dict[str, Any]) -> BaseModel:
    """Validate a spec dict of a job kind; UserError with one line on failure."""
    spec_type = SPEC_TYPES.get(kind)
    if spec_type is None:
        raise UserError(f"unknown job kind {kind!r}")
    try:
        return spec_type.model_validate(data)
    except ValidationError as e:
        raise UserError(one_line(e)) from None


def one_line(e: ValidationError) -> str:
    """The first validation problem as one readable line."""
    err = e.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
    msg = str(err.get("msg", "invalid"))
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    if where and where in cls_fields():
        return f"--{where.replace('_', '-')}: {msg[0].lower() + msg[1:]}"
    return f"{where}: {msg}" if where else msg


def cls_fields() -> set[str]:
    """Spec field names across kinds (those are CLI flags too)."""
    return {name for spec_type in SPEC_TYPES.values() for name in spec_type.model_fields}
