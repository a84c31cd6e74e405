"""The one list of a training run's summary fields, and the views that lead with it."""

from __future__ import annotations

from aetui.run_summary import SUMMARY_FIELDS, summary, summary_first


def test_summary_keeps_the_recorded_fields_in_the_lists_order():
    metrics = {"params": 12345, "device": "cpu", "wall_s": 4.2, "final_loss": 0.0061, "heldout_mse": None,
               "steps_done": 60}
    assert summary(metrics) == [("final_loss", 0.0061), ("steps_done", 60), ("wall_s", 4.2), ("params", 12345)]
    assert summary({}) == [] and summary({"trained_mse": 0.1}) == []  # a probe's run: no training summary


def test_summary_first_lists_every_metric_once_the_summary_on_top():
    metrics = {"train_s": 3.9, "images_per_s": 850.0, "device": "cpu", "final_loss": 0.0061, "compile_s": None}
    assert summary_first(metrics) == [("final_loss", 0.0061), ("images_per_s", 850.0), ("train_s", 3.9),
                                      ("device", "cpu"), ("compile_s", None)]
    full = {k: 1 for k in SUMMARY_FIELDS} | {"device": "cpu"}
    assert [k for k, _ in summary_first(full)] == [*SUMMARY_FIELDS, "device"]


def test_the_cli_and_the_dashboard_import_no_heavy_module_for_it():
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = ("import sys, aetui.run_summary, aetui.durations; "
            "sys.exit(sorted(m for m in ('torch', 'pydantic', 'textual', 'sqlmodel') if m in sys.modules) != [])")
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
