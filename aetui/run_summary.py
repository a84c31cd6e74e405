"""The summary of a finished training run: which of its metrics head every view of it.

A training run records many metrics (`aetui.experiments.train`); these few are the
ones people read first: the dashboard's run screen shows them, `aetui show` lists them
before the rest, and the worker test checks a trained run records every one.
Standard library only, so the CLI and the dashboard import it cheaply.
"""

from __future__ import annotations

from typing import Any

SUMMARY_FIELDS = ("final_loss", "heldout_mse", "steps_done", "images_per_s", "wall_s", "params")


def summary(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    """The summary fields the run recorded (not None), in `SUMMARY_FIELDS` order."""
    return [(k, metrics[k]) for k in SUMMARY_FIELDS if metrics.get(k) is not None]


def summary_first(metrics: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every metric, the summary fields first (in their order), then the rest as recorded."""
    head = [(k, metrics[k]) for k in SUMMARY_FIELDS if k in metrics]
    return head + [(k, v) for k, v in metrics.items() if k not in SUMMARY_FIELDS]


def usage_line(usage: dict[str, Any] | None) -> str:
    """`GPU mem peak 1.20 GiB · GPU util 87% · CPU 3m12s`: what a job used, its attempts
    together (`aetui.jobs.usage_total`); "" when nothing was recorded."""
    from aetui.durations import duration

    if not usage:
        return ""
    parts = []
    if usage.get("gpu_mem_peak") is not None:
        parts.append(f"GPU mem peak {usage['gpu_mem_peak'] / 2**30:.2f} GiB")
    if usage.get("gpu_util_mean") is not None:
        parts.append(f"GPU util {usage['gpu_util_mean'] * 100:.0f}%")
    if usage.get("cpu_s") is not None:
        parts.append(f"CPU {duration(usage['cpu_s'])}")
    return " · ".join(parts)
