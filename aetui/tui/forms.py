"""Launch forms generated from the spec pydantic models: one source of truth.

`form_fields(SpecType)` describes each field (its name, type, default, description,
constraints); `parse_values` turns the form's texts back into a spec dict that
`aetui.jobs.submit` validates with the same model. Nothing here knows Textual.

A spec with a `model` and its `options` (training) gets the model as a choice and one
field per option of that model (`option_fields`, from `aetui.models.catalog`, named
`options.<name>`), not a JSON text: the form rebuilds them when the model changes.
"""

from __future__ import annotations

import json
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from aetui.errors import UserError

# fields the dashboard fills in itself and never shows (`code`: set when queued)
HIDDEN = {"kind", "code"}
OPTION_PREFIX = "options."  # a model option's field: `options.depth` is spec["options"]["depth"]
DEFAULT_MODEL = "unet"  # the model a new training form starts with
# the model choice that asks for your own model's file (`aetui queue PATH.py:NAME`), in the
# field MODEL_REF: the queued spec's `model` is that reference
OWN_MODEL = "your own model…"
MODEL_REF = "model_file"
# fields naming the run an experiment starts from (filled with the selected run's id)
PARENT_FIELDS = ("run", "run_id", "parent", "parent_id", "source", "source_run")


@dataclass(frozen=True)
class FormField:
    name: str
    type: str  # bool, int, float, str, choice, list, json
    default: Any  # the value the form starts with (None: empty)
    required: bool
    optional: bool  # None (an empty input) is allowed
    choices: tuple[Any, ...] = ()
    description: str = ""
    constraint: str = ""  # e.g. ">= 1"

    @property
    def label(self) -> str:
        return self.name.removeprefix(OPTION_PREFIX).replace("_", " ")

    @property
    def option(self) -> str | None:
        """The model option this field sets, or None for a field of the spec itself."""
        return self.name[len(OPTION_PREFIX):] if self.name.startswith(OPTION_PREFIX) else None

    @property
    def of_model(self) -> bool:
        """A field that follows the chosen model: one of its options, or the JSON options
        of your own model."""
        return self.option is not None or self.name in ("options", MODEL_REF)

    def text(self, value: Any) -> str:
        """How a value shows in a text input."""
        if value is None:
            return ""
        if self.type == "json":
            return json.dumps(value, separators=(", ", ": "))
        if self.type == "list":
            return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
        return str(value)


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) of `X | None` / Optional[X]."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        if len(args) == 1:
            return args[0], optional
        return annotation, optional
    return annotation, False


def _kind_of(inner: Any) -> tuple[str, tuple]:
    origin = typing.get_origin(inner)
    if origin is Literal:
        return "choice", tuple(typing.get_args(inner))
    if inner is bool:
        return "bool", ()
    if inner is int:
        return "int", ()
    if inner is float:
        return "float", ()
    if inner is str:
        return "str", ()
    if origin in (list, tuple) or inner in (list, tuple):
        return "list", ()
    if origin is dict or inner is dict:
        return "json", ()
    if isinstance(inner, type) and issubclass(inner, __import__("enum").Enum):
        return "choice", tuple(m.value for m in inner)
    return "str", ()


# a bound this far out is the range a value is kept in (a seed's 64 bits), not a limit
# anyone types against: not shown
NO_PRACTICAL_LIMIT = 2**53


def _constraint(info) -> str:
    parts = []
    for m in info.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            v = getattr(m, attr, None)
            if v is not None and abs(v) < NO_PRACTICAL_LIMIT:
                parts.append(f"{sym} {v}")
    return ", ".join(parts)


def form_fields(spec_type: type, values: dict[str, Any] | None = None, *,
                hide: tuple[str, ...] = (), choices: dict[str, tuple[Any, ...]] | None = None) -> list[FormField]:
    """The fields of a pydantic spec model, defaults filled in (or `values`, e.g. an
    existing run's spec): the kind's own fields first, then those it inherits (the
    options every experiment shares), each group in declaration order. `choices`: fields
    offered as a choice of these values only (what the run's model supports)."""
    from pydantic_core import PydanticUndefined

    values = values or {}
    own = set(getattr(spec_type, "__annotations__", {}))
    names = sorted(spec_type.model_fields, key=lambda n: n not in own)  # stable: keeps declaration order
    with_options = {"model", "options"} <= set(spec_type.model_fields)
    out = []
    for name in names:
        info = spec_type.model_fields[name]
        if name in HIDDEN or name in hide:
            continue
        if with_options and name == "model":
            from aetui.models.catalog import MODEL_NAMES

            model = values.get("model") or DEFAULT_MODEL  # your own model (copied from its run) is offered too
            offered = MODEL_NAMES if model in MODEL_NAMES else (*MODEL_NAMES, model)
            out.append(FormField(name=name, type="choice", default=model, required=True, optional=False,
                                 choices=(*offered, OWN_MODEL), description=info.description or ""))
            continue
        if with_options and name == "options":
            out += option_fields(values.get("model") or DEFAULT_MODEL, values.get("options") or {})
            continue
        inner, optional = _unwrap(info.annotation)
        kind, choices_ = _kind_of(inner)
        if kind == "bool" and optional:
            kind, choices_ = "choice", (None, True, False)
        if info.default_factory is not None:
            default = info.default_factory()
        elif info.default is PydanticUndefined:
            default = None
        else:
            default = info.default
        if name in values:
            default = values[name]
        if choices and name in choices:
            kind, choices_of = "choice", tuple(choices[name])
            default = default if default in choices_of else choices_of[0]
            choices_here = choices_of
        else:
            choices_here = choices_
        out.append(FormField(name=name, type=kind, default=default, required=info.is_required(),
                             optional=optional, choices=choices_here, description=info.description or "",
                             constraint=_constraint(info)))
    return out


def option_fields(model: str, values: dict[str, Any] | None = None) -> list[FormField]:
    """One field per option of `model` (its defaults, or `values`), described as the CLI
    describes them; for your own model (not in the catalog: its options are its own), one
    JSON field of them."""
    from aetui.models.catalog import OPTIONS

    values = values or {}
    own_options = FormField(name="options", type="json", default=dict(values), required=False, optional=False,
                            description="your model's keyword arguments, as JSON")
    if model == OWN_MODEL:
        return [FormField(name=MODEL_REF, type="str", default=None, required=True, optional=False,
                          description="PATH.py:NAME or package.module:NAME, as `aetui queue` takes it"),
                own_options]
    if model not in OPTIONS:
        return [own_options]
    kinds = {int: "int", float: "float", bool: "bool", str: "str"}
    return [FormField(name=OPTION_PREFIX + opt.name, type=kinds.get(opt.type, "str"),
                      default=values.get(opt.name, opt.default), required=False, optional=opt.default is None,
                      choices=(True, False) if opt.type is bool else (), description=opt.help)
            for opt in OPTIONS.get(model, ())]


def parse_value(field: FormField, raw: Any) -> Any:
    """A form input's value as the spec expects it; UserError naming the field if it is not."""
    if field.type in ("bool", "choice"):
        return raw
    text = "" if raw is None else str(raw).strip()
    if text == "":
        if field.required:
            raise UserError(f"{field.label}: required")
        if field.type == "json":
            return field.default if field.default in ({}, []) else None
        return None
    if field.type == "list":
        # JSON ([0.1, 0.3]) or the CLI's own syntax (0.1,0.3 or 0.05:0.8:8), which the
        # spec model parses itself
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise UserError(f"{field.label}: {text!r} is not a JSON list") from None
        return text
    try:
        if field.type == "int":
            return int(text)
        if field.type == "float":
            return float(text)
        if field.type == "json":
            return json.loads(text)
    except ValueError:
        what = {"int": "a whole number", "float": "a number", "json": "JSON, e.g. {\"depth\": 2}"}[field.type]
        raise UserError(f"{field.label}: {text!r} is not {what}") from None
    return text


def parse_values(fields: list[FormField], raw: dict[str, Any]) -> dict[str, Any]:
    """The spec dict of a filled form: unset optional fields are left out so the model's
    own defaults apply."""
    spec: dict[str, Any] = {}
    for f in fields:
        value = parse_value(f, raw.get(f.name))
        if f.option is not None:  # a model option: into spec["options"] (the model's default when unset)
            options = spec.setdefault("options", {})
            if value is not None:
                options[f.option] = value
            continue
        if value is None and not f.required:
            continue
        spec[f.name] = value
    if spec.get("model") == OWN_MODEL:
        spec["model"] = spec.pop(MODEL_REF)
    return spec


def parent_field(spec_type: type) -> str | None:
    """The field of an experiment spec that names its training run, if it has one."""
    for name in PARENT_FIELDS:
        if name in spec_type.model_fields:
            return name
    return None


EXPERIMENTS = ("sweep", "walk", "probe")


def model_choices(info: Any) -> dict[str, tuple[Any, ...]]:
    """What a run's model supports, as form choices: walk modes (latent only with an
    encoder/decoder split) and probe layers (`aetui.specs.ModelInfo`)."""
    modes = ("iterate", "latent", "diffuse") if info.latent() else ("iterate", "diffuse")
    return {"mode": modes, "layer": tuple(info.layers())}


def experiment_kinds() -> list[str]:
    """The job kinds that start from a training run: sweep, walk, probe, and
    any other whose spec names its run (hidden helper kinds such as `noop` do not)."""
    from aetui.specs import SPEC_TYPES

    others = [k for k, t in SPEC_TYPES.items()
              if k not in ("train", *EXPERIMENTS) and parent_field(t) is not None]
    return [*EXPERIMENTS, *others]


def spec_type(kind: str) -> type:
    from aetui.specs import SPEC_TYPES

    if kind not in SPEC_TYPES:
        raise UserError(f"unknown job kind {kind!r}")
    return SPEC_TYPES[kind]
