"""Runs that say how they differ (issue 14): grid labels and TensorBoard names carry the
settings that differ, tags and notes, filters by status, kind, tag, setting and metric
in `aetui runs`, and `aetui runs --csv`. The real CLI on a real SQLite store; run
metrics are written straight through `store.queue` (the display is under test, not training)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.conftest import TINY, aetui, aetui_json


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """A grid of four training jobs (lr x seed) and a sweep-looking job with `bn=train` in
    its label; jobs 1 and 2 done with metrics. One home for the module: each test uses
    tags of its own."""
    from aetui.home import Home
    from store import queue

    home = tmp_path_factory.mktemp("differ") / "home"
    jobs = aetui_json(home, "queue", *TINY, "--steps", "5", "--lr", "1e-3,1e-4", "--seed", "1,2", "--device", "cpu")
    h = Home.resolve(home)
    for job_id, mse in ((jobs[0]["id"], 0.005), (jobs[1]["id"], 0.02)):
        assert queue.claim(h.db, worker="vm:1", host="vm", pid=1, device="cpu", job_id=job_id) is not None
        queue.record_run(h.db, job_id=job_id, metrics={"final_loss": mse * 2, "heldout_mse": mse})
        queue.finish(h.db, job_id=job_id, worker="vm:1", status="done")
    (sweep,) = queue.enqueue_many(h.db, [dict(kind="sweep", spec={"run": jobs[0]["id"], "bn": "train"},
                                              label="sweep mix [0.5] bn=train of #1")], run_root=str(h.runs))
    assert queue.claim(h.db, worker="vm:1", host="vm", pid=1, device="cpu", job_id=sweep.id) is not None
    queue.finish(h.db, job_id=sweep.id, worker="vm:1", status="done")
    return home, [j["id"] for j in jobs], sweep.id


def ids(home: Path, *words: str) -> list[int]:
    return sorted(r["id"] for r in aetui_json(home, "runs", *words))


def test_grid_labels_say_how_the_jobs_differ(grid):
    home, jobs, _ = grid
    labels = {r["id"]: r["label"] for r in aetui_json(home, "runs")}
    assert labels[jobs[0]] == "unet res32 builtin:64 base_width=4 depth=2 lr=0.001 seed=1"
    assert labels[jobs[3]].endswith(" lr=0.0001 seed=2")
    assert "steps=" not in labels[jobs[0]]  # the same in all four: not a difference


def test_tensorboard_names_carry_the_differing_settings(grid):
    from aetui.home import Home
    from aetui.tb_launch import logdir_spec, run_names
    from store import queries

    home, jobs, sweep = grid
    h = Home.resolve(home)
    rows = [(j.id, j.kind, j.spec, j.label, h.run_dir(j.id)) for j in reversed(queries.list_jobs(h.db))]
    names = run_names(rows)
    assert names["1 lr=0.001 seed=1"] == h.run_dir(1)  # the folder keeps its path
    assert f"{sweep} sweep sweep mix [0.5] bn=train of #1" in names  # alone of its kind: its label
    from tensorboard.backend.event_processing.data_ingester import _parse_event_files_spec

    from aetui.cli.work_cmds import _tb_spec

    spec = _tb_spec(h)  # what `aetui tb` hands TensorBoard, read back by TensorBoard's own parser
    assert spec == logdir_spec(names)
    assert _parse_event_files_spec(spec) == {str(path): name for name, path in names.items()}
    assert logdir_spec({"a": Path("/x,y")}) is None  # a comma in a path: plain --logdir


def test_status_and_kind_words_filter_their_fields_only(grid):
    home, jobs, sweep = grid
    assert ids(home, "train", "done") == jobs[:2]  # not the sweep, whose label says bn=train
    assert ids(home, "done") == [*jobs[:2], sweep]
    assert ids(home, "bn=train") == [sweep]  # its setting, asked for by name


def test_filters_by_setting_metric_and_tag_and_tags_and_notes(grid):
    home, jobs, _ = grid
    assert ids(home, "lr=1e-3") == [jobs[0], jobs[1]]
    assert ids(home, "lr=1e-3", "seed=2") == [jobs[1]]
    assert ids(home, "heldout_mse<0.01") == [jobs[0]]
    assert ids(home, "heldout_mse", ">=", "0.01") == [jobs[1]]  # spaced out in the shell
    assert ids(home, "base_width=4") == jobs  # a model option
    assert aetui(home, "tag", str(jobs[2]), "best", "baseline").stdout.strip() == f"job {jobs[2]}: tags baseline best"
    aetui(home, "tag", str(jobs[3]), "best")
    assert aetui_json(home, "tag", str(jobs[2]), "baseline", "--remove") == {"id": jobs[2], "tags": ["best"]}
    assert ids(home, "tag:best") == [jobs[2], jobs[3]]
    assert ids(home, "tag:baseline") == []
    aetui(home, "note", str(jobs[3]), "diverges", "after", "1k", "steps")
    assert ids(home, "diverges") == [jobs[3]]
    aetui(home, "tag", str(jobs[2]), "best", "--remove")
    assert ids(home, "tag:best") == [jobs[3]]
    shown = aetui(home, "show", str(jobs[3])).stdout
    assert "tags      best" in shown and "note      diverges after 1k steps" in shown
    detail = aetui_json(home, "show", str(jobs[3]))
    assert detail["tags"] == ["best"] and detail["note"] == "diverges after 1k steps"
    aetui(home, "tag", str(jobs[3]), "best", "--remove")
    aetui(home, "note", str(jobs[3]))  # no text: the note goes
    assert aetui_json(home, "show", str(jobs[3]))["note"] is None and ids(home, "tag:best") == []


def test_runs_csv_has_settings_metrics_tags_and_notes(grid):
    home, jobs, _ = grid
    aetui(home, "tag", str(jobs[0]), "exported")
    rows = list(csv.DictReader(io.StringIO(aetui(home, "runs", "train", "--csv").stdout)))
    by_id = {int(r["id"]): r for r in rows}
    assert sorted(by_id) == jobs
    first = by_id[jobs[0]]
    assert (first["tags"], first["lr"], first["seed"], first["base_width"]) == ("exported", "0.001", "1", "4")
    assert float(first["heldout_mse"]) == 0.005 and by_id[jobs[2]]["heldout_mse"] == ""


@pytest.mark.parametrize("args, message", [
    (["runs", "lr<abc"], "< and > compare numbers"),
    (["runs", "--csv", "--json"], "choose one"),
    (["tag", "1", "no/slash"], "bad tag"),
    (["tag", "99", "x"], "no job 99"),
    (["note", "1", "x" * 2001], "at most 2000"),
])
def test_bad_filters_tags_and_notes_are_one_line(grid, args, message):
    home, _, _ = grid
    out = aetui(home, *args, check=False)
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
