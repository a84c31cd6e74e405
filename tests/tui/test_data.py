"""The dashboard's data layer on real stores and files: the windowed query, changes,
result albums, log tails, TensorBoard curves and the spec-generated forms."""

from __future__ import annotations

import pytest

from aetui.errors import UserError
from aetui.specs import TrainSpec
from aetui.tui import forms
from aetui.tui.data import window
from aetui.tui.data.curves import read_scalars
from aetui.tui.data.logtail import Tail
from aetui.tui.data.results import checkpoints, load_results
from aetui.tui.data.window import JobQuery, fetch_changes, fetch_window, first_page
from store.queries import newest_update

from .seed import write_curve, write_images


def test_window_filters_sorts_and_counts(seeded):
    home, ids = seeded
    rows, total = fetch_window(home.db, JobQuery(), 0, 100)
    assert total == 8 and [r.id for r in rows] == sorted(ids.values(), reverse=True)
    rows, total = fetch_window(home.db, JobQuery(status="done"), 0, 100)
    assert {r.id for r in rows} == {ids[k] for k in ("done", "sweep", "walk", "probe")} and total == 4
    rows, total = fetch_window(home.db, JobQuery(text="lr=0.5"), 0, 100)
    assert [r.id for r in rows] == [ids["failed"]]
    rows, _ = fetch_window(home.db, JobQuery(text="UNET res64"), 0, 100)  # words AND, any case
    assert [r.id for r in rows] == [ids["cancelled"]]
    rows, _ = fetch_window(home.db, JobQuery(text=f"#{ids['walk']}"), 0, 100)
    assert [r.id for r in rows] == [ids["walk"]]
    rows, _ = fetch_window(home.db, JobQuery(text="100%_"), 0, 100)  # LIKE wildcards are literal
    assert rows == []
    rows, _ = fetch_window(home.db, JobQuery(sort="loss", descending=False), 0, 100)
    losses = [r.loss for r in rows]
    assert losses[:3] == sorted(x for x in losses if x is not None)[:3] and losses[-1] is None  # nulls last
    rows, _ = fetch_window(home.db, JobQuery(sort="priority"), 0, 100)
    assert rows[0].id == ids["queued"]
    rows, total = fetch_window(home.db, JobQuery(), 2, 3)
    assert total == 8 and [r.id for r in rows] == sorted(ids.values(), reverse=True)[2:5]
    for key in window.SORT_KEYS:
        for desc in (True, False):
            assert len(fetch_window(home.db, JobQuery(sort=key, descending=desc), 0, 100)[0]) == 8


def test_changes_are_only_rows_updated_since(seeded):
    from store import queue

    home, ids = seeded
    seen = newest_update(home.db)
    assert fetch_changes(home.db, JobQuery(), seen).rows == []
    queue.progress(home.db, job_id=ids["running"], step=200, loss=0.01)
    ch = fetch_changes(home.db, JobQuery(), seen)
    assert [r.id for r in ch.rows] == [ids["running"]] and ch.rows[0].step == 200
    assert ch.seen > seen and ch.total == 8 and ch.counts["running"] == 1
    assert fetch_changes(home.db, JobQuery(), ch.seen).rows == []


def test_first_page_reads_sqlite_without_sqlalchemy(seeded, tmp_path):
    home, ids = seeded
    rows, total, counts, seen = first_page(home.db_url, 3)
    via_store, _ = fetch_window(home.db, JobQuery(), 0, 3)
    assert rows == via_store and total == 8 and counts["done"] == 4 and seen == newest_update(home.db)
    assert first_page(str(tmp_path / "missing.db"), 3) is None
    assert first_page("postgresql://x/y", 3) is None


def test_ten_thousand_rows_are_read_as_a_window(big_home):
    """A window of rows under a sort or filter, never the whole table (speed: benchmarks/dashboard.py)."""
    home = big_home
    rows, total = fetch_window(home.db, JobQuery(sort="loss"), 5_000, 150)
    assert total == 10_008 and len(rows) == 150
    rows, total = fetch_window(home.db, JobQuery(text="mlp"), 3_000, 150)
    assert total == 3_333 and all(r.model == "mlp" for r in rows) and len(rows) == 150


def test_results_albums_by_kind(seeded):
    home, ids = seeded
    from aetui.jobs import job_detail

    def results(name):
        d = job_detail(home, ids[name])
        return load_results(d["kind"], d["run_dir"], d["artifacts"], d["results"])

    train = results("done")
    assert [a.name for a in train.albums] == ["reconstructions", "denoising"]
    assert train.album("reconstructions").steps() == [20, 40, 60]
    assert train.latest().path.name == "recon_00000060.png"
    running = results("running")  # grids found while it runs, before artifacts are recorded
    assert running.album("reconstructions").steps() == [20, 40, 60, 80, 100, 120]
    sweep = results("sweep")
    assert [a.name for a in sweep.albums] == ["triplets", "plot"]
    assert [p.title for p in sweep.album("triplets").pictures] == ["level 0.1", "level 0.3", "level 0.5"]
    assert len(sweep.points) == 3 and sweep.latest().path.name == "plot.png"
    walk = results("walk")
    assert walk.albums[0].name == "frames" and walk.albums[0].animated and len(walk.albums[0].pictures) == 4
    probe = results("probe")
    assert [p.path.name for p in probe.album("images").pictures] == ["probe_0.png", "probe_1.png"]
    assert [c[0] for c in checkpoints(home.run_dir(ids["done"]))][-1] == "final.pt"
    assert load_results("train", None, {}, {}).albums == ()


def test_a_command_s_tensorboard_images_are_its_albums(tmp_path):
    """torch's `add_image` and tf's `tf.summary.image` (several a step), read back as
    albums by tag, decoded from their bytes; a built-in run's TensorBoard copies are not."""
    from PIL import Image

    from aetui.tui.data.images import load
    from aetui.tui.data.results import Picture

    run = tmp_path / "run"
    red, green, blue = (Image.new("RGB", (16, 8), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255)))
    write_images(run, "samples/torch", {2: [red], 4: [green]})
    write_curve(run, [(2, 0.5)])
    write_images(run, "samples/tf", {3: [blue, red]}, tf2=True)
    res = load_results("command", run, {}, {})
    assert [a.name for a in res.albums] == ["samples/tf", "samples/torch"]
    torch_album = res.album("samples/torch")
    assert torch_album.steps() == [2, 4] and [p.title for p in torch_album.pictures] == ["step 2", "step 4"]
    assert [p.title for p in res.album("samples/tf").pictures] == ["step 3 (1/2)", "step 3 (2/2)"]
    newest = torch_album.pictures[-1]
    assert isinstance(newest.source, Picture) and newest.path == run / "tb"
    assert load(newest.source).getpixel((0, 0)) == (0, 255, 0) and load(newest.source).size == (16, 8)
    assert load(res.album("samples/tf").pictures[0].source).getpixel((3, 3)) == (0, 0, 255)
    write_images(run, "samples/torch", {6: [blue]})  # the run goes on: read again
    assert load_results("command", run, {}, {}).album("samples/torch").steps() == [2, 4, 6]
    assert load_results("train", run, {}, {}).albums == ()  # its pictures are its files
    write_curve(tmp_path / "scalars", [(1, 0.5)])
    assert load_results("command", tmp_path / "scalars", {}, {}).albums == ()


def test_log_tail_reads_only_what_was_appended(tmp_path):
    log = tmp_path / "stdout.log"
    log.write_text("one\ntwo\nthr")
    tail = Tail([log])
    assert tail.read() == ["one", "two"]
    assert tail.read() == []
    with log.open("a") as f:
        f.write("ee\nfour\n")
    assert tail.read() == ["three", "four"]
    log.write_text("new\n")  # truncated: starts over
    assert tail.read() == ["new"]
    big = tmp_path / "big.log"
    big.write_text("".join(f"line {i}\n" for i in range(20_000)))
    lines = Tail([big]).read()
    assert 0 < len(lines) < 20_000 and lines == [f"line {i}" for i in range(20_000 - len(lines), 20_000)]


def test_curve_is_cached_until_the_event_files_grow(tmp_path):
    run = tmp_path / "run"
    write_curve(run, [(5, 0.5), (10, 0.25)])
    assert read_scalars(run) == [(5, 0.5), (10, 0.25)]
    first = read_scalars(run)
    assert read_scalars(run) is first  # no re-read
    write_curve(run, [(15, 0.125)])
    assert read_scalars(run)[-1] == (15, 0.125)
    assert read_scalars(tmp_path / "nothing") == []


def test_form_fields_come_from_the_spec_model():
    fields = {f.name: f for f in forms.form_fields(TrainSpec)}
    assert "kind" not in fields
    assert fields["model"].required and fields["model"].type == "choice"
    assert set(fields["model"].choices) == {"mlp", "unet", "attn-unet", forms.OWN_MODEL} and fields["model"].default == "unet"
    from aetui.defaults import LIMITS

    assert fields["steps"].default == 2000 and fields["steps"].type == "int"
    assert fields["steps"].constraint == f">= 1, <= {LIMITS['steps']}"  # bounds, as the spec model has them
    assert fields["lr"].type == "float" and "options" not in fields
    # the model's options are fields of their own, as the CLI's flags are, not a JSON text
    assert fields["options.depth"].type == "int" and fields["options.depth"].default == 4
    assert fields["options.depth"].label == "depth" and "downsamplings" in fields["options.depth"].description
    assert fields["options.skips"].type == "bool" and fields["options.bottleneck"].optional
    assert fields["precision"].type == "choice" and fields["precision"].choices == ("auto", "fp32", "bf16")
    assert fields["compile"].choices == (None, True, False)
    assert fields["train_noise"].optional and "denoising" in fields["train_noise"].description
    prefilled = {f.name: f for f in forms.form_fields(TrainSpec, {"model": "mlp", "steps": 7,
                                                                   "options": {"width": 64}})}
    assert prefilled["model"].default == "mlp" and prefilled["steps"].default == 7
    assert prefilled["options.width"].default == 64 and "options.depth" not in prefilled  # mlp's own options


def test_form_values_parse_and_fail_with_one_line():
    fields = forms.form_fields(TrainSpec)
    raw = {f.name: f.text(f.default) if f.type not in ("bool", "choice") else f.default for f in fields}
    raw.update(model="unet", res="32", steps="100", **{"options.depth": "2", "options.bottleneck": ""})
    spec = forms.parse_values(fields, raw)
    assert spec["res"] == 32 and spec["steps"] == 100
    assert spec["options"] == {"base_width": 64, "depth": 2, "skips": False}  # no bottleneck: the default
    assert "train_noise" not in spec and "compile" not in spec  # unset optionals: the model's defaults
    assert TrainSpec.model_validate(spec).steps == 100
    with pytest.raises(UserError, match="steps: 'ten' is not a whole number"):
        forms.parse_values(fields, {**raw, "steps": "ten"})
    with pytest.raises(UserError, match="res: required"):
        forms.parse_values(fields, {**raw, "res": ""})
    with pytest.raises(UserError, match="depth: 'two' is not a whole number"):
        forms.parse_values(fields, {**raw, "options.depth": "two"})


def test_table_rows_say_what_job_summary_says(seeded):
    """JobRow derives its fields itself (importing aetui.jobs costs the first paint
    ~0.6 s); they must stay the fields of `aetui runs --json`."""
    from aetui.jobs import job_summary
    from aetui.tui.data.rows import JobRow
    from store.queries import list_jobs

    from dataclasses import fields

    # every field of a row but the raw times the table formats itself, its spec (for the
    # labels of rows that share one) and the derived
    # `stopping` flag: the list comes from the row's own definition, not typed again here
    shared = [f.name for f in fields(JobRow)
              if f.name not in ("created_at", "updated_at", "started_at", "attempt_started_at", "stopping", "spec")]
    assert {"id", "status", "label", "loss", "error"} <= set(shared)
    home, _ = seeded
    for job in list_jobs(home.db):
        row, summary = JobRow.from_job(job), job_summary(job)
        for name in shared:
            assert getattr(row, name) == summary[name], name


def test_list_fields_take_json_or_the_cli_grid_syntax():
    from aetui.specs import parse_spec

    assert "sweep" in forms.experiment_kinds(), forms.experiment_kinds()  # a missing kind is a bug, not a skip
    fields = forms.form_fields(forms.spec_type("sweep"), hide=("checkpoint",))
    assert "checkpoint" not in [f.name for f in fields]
    assert fields[0].name == "noise"  # the kind's own fields before the shared ones
    levels = next(f for f in fields if f.name == "levels")
    assert levels.type == "list" and levels.text([0.1, 0.3]) == "0.1,0.3"
    raw = {f.name: f.text(f.default) if f.type not in ("bool", "choice") else f.default for f in fields}
    for text, want in (("0.1,0.3", [0.1, 0.3]), ("[0.2, 0.4]", [0.2, 0.4])):
        spec = forms.parse_values(fields, {**raw, "levels": text})
        assert parse_spec("sweep", spec).levels == want
    assert "levels" not in forms.parse_values(fields, {**raw, "levels": ""})  # the model's default grid
