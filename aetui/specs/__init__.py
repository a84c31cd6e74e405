"""Job specs: validated once here, shared by the CLI, the dashboard and the worker.

Specs are data: pydantic models over the torch-free catalogs (models, data,
corruptions), so validating a spec never imports torch. A spec round-trips through JSON
in the store (`Job.spec`). One module per kind of spec; `SPEC_TYPES` below is the table
of job kinds. Runners (`aetui.experiments`) import specs, never the reverse.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from aetui.errors import UserError
from aetui.specs.command import CommandSpec
from aetui.specs.experiments import ProbeSpec, SweepSpec, WalkSpec
from aetui.specs.model_info import ModelInfo, layer_names
from aetui.specs.noop import NoopSpec
from aetui.specs.train import TrainSpec

__all__ = ["SPEC_TYPES", "CommandSpec", "ModelInfo", "NoopSpec", "ProbeSpec", "SweepSpec", "TrainSpec", "WalkSpec",
           "cls_fields", "layer_names", "one_line", "parse_spec"]

SPEC_TYPES: dict[str, type[BaseModel]] = {
    "train": TrainSpec,
    "sweep": SweepSpec,
    "walk": WalkSpec,
    "probe": ProbeSpec,
    "command": CommandSpec,  # any program (`aetui add -- CMD ...`)
    "noop": NoopSpec,  # hidden: a test and benchmark aid for the queue
}


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
