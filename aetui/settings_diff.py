"""The settings that differ within a set of specs, said in a few words.

Which settings differ is `aetui.spec_diff.differing_settings` (the report uses it too);
this module names them as users type them, a model's options by their own name
(`base_width=4`, as the filter `base_width=4` and a training label say it), and words
them for the labels of a grid's jobs (`aetui.jobs.submit`), the names TensorBoard shows
(`aetui.tb_launch`) and the Compare screen's table. Standard library only: the CLI and
the dashboard import it cheaply.
"""

from __future__ import annotations

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
    from aetui.spec_diff import differing_settings

    flats = [flat(s) for s in specs]
    return list(differing_settings(flats)) if len(flats) > 1 else []


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



def shown_labels(jobs: Iterable[Any]) -> dict[int, str]:
    """The labels a list of jobs shows (the dashboard's table, `aetui runs`), by job id:
    where several of them of the same kind share a label, each carries the settings that
    differ among those (`unet res32 builtin:256 lr=0.001` and `... lr=0.0003` for two
    jobs queued one by one); the others keep theirs. A grid's labels say this when it is
    queued (`aetui.jobs.submit`); this covers jobs queued apart. The stored labels stay.
    `jobs`: records with `id`, `kind`, `label` and `spec`."""
    jobs = list(jobs)
    groups: dict[tuple[str, str], list[Any]] = {}
    for job in jobs:
        groups.setdefault((job.kind, job.label or ""), []).append(job)
    shown = {job.id: job.label or "" for job in jobs}
    for (_, label), same in groups.items():
        if len(same) > 1 and (keys := differing(job.spec or {} for job in same)):
            for job in same:
                shown[job.id] = labelled(label, job.spec or {}, keys)
    return shown
