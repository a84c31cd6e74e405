"""`aetui report`: one self-contained HTML file (or Markdown and a folder of pictures) of
jobs of every kind, read back as a browser would: valid HTML, pictures that decode, tables
that hold the store's numbers, user text escaped; bad input writes nothing.

The jobs are the dashboard tests' seeded store (written through `store.queue`, with real
run folders, TensorBoard curves and pictures; no torch), once for the module.
"""

from __future__ import annotations

import base64
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from aetui.home import Home
from tests.conftest import aetui

EVIL = '<script>alert("x")</script> & <img src=x onerror=alert(1)> | *bold* [link](http://e.vil)'
VOID = {"meta", "img", "br", "hr", "link", "input", "col", "area", "base", "source", "wbr"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    from store import queue
    from tests.tui.seed import seed, train_spec

    path = tmp_path_factory.mktemp("report") / "home"
    home = Home(path)
    ids = seed(home)
    (job,) = queue.enqueue_many(home.db, [dict(kind="train", spec=train_spec(lr=3e-3), label=EVIL, total_steps=60)],
                                run_root="runs")
    queue.claim(home.db, worker="vm:1", host="vm", pid=1, device="cpu", job_id=job.id)
    queue.record_run(home.db, job_id=job.id, metrics={"final_loss": 0.25, "note": EVIL})
    queue.finish(home.db, job_id=job.id, worker="vm:1", status="done", step=60)
    ids["evil"] = job.id
    (cmd,) = queue.enqueue_many(home.db, [dict(kind="command", label="train.py", total_steps=0, spec={
        "kind": "command", "argv": ["python", "train.py"], "cwd": "/src", "env": {"API_TOKEN": "s3cr3t-t0ken"}})],
        run_root="runs")
    ids["command"] = cmd.id
    from PIL import Image

    from tests.tui.seed import write_curve, write_images

    write_curve(home.run_dir(cmd.id), [(1, -2.0), (2, -1.5)], tag="my/metric")  # what it wrote under $AETUI_TB_DIR
    write_images(home.run_dir(cmd.id), "my/samples", {1: [Image.new("RGB", (12, 12), (9, 9, 9))],
                                                      2: [Image.new("RGB", (12, 12), (200, 30, 30))]})
    home.db.dispose()
    return path, ids


@pytest.fixture(scope="module")
def html_report(lab, tmp_path_factory) -> tuple[str, "Page"]:
    path, ids = lab
    out = tmp_path_factory.mktemp("out") / "all.html"
    every = [ids[k] for k in ("done", "running", "sweep", "walk", "probe", "evil", "command")]
    proc = aetui(path, "report", *map(str, every), "--out", str(out))
    assert str(out) in proc.stdout
    text = out.read_text()
    return text, Page.parse(text)


class Page(HTMLParser):
    """What a browser would build: the tag structure (checked for balance), the tables,
    the pictures and the links, and the text of each element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tables: list[dict] = []
        self.images: list[dict[str, str]] = []
        self.links: list[str] = []
        self.tags: set[str] = set()
        self.texts: dict[str, list[str]] = {}
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    @classmethod
    def parse(cls, text: str) -> "Page":
        page = cls()
        page.feed(text)
        page.close()
        return page

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.add(tag)
        if tag == "img":
            self.images.append(a)
        if tag in ("a", "link") and "href" in a:
            self.links.append(a["href"])
        if tag not in VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append({"caption": "", "head": [], "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1] if self.stack else 'nothing'}")
            return
        self.stack.pop()
        if tag in ("td", "th") and self._row is not None:
            self._row.append("".join(self._cell or []))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            table = self.tables[-1]
            (table["head"] if "thead" in self.stack else table["rows"]).append(self._row)
            self._row = None

    def handle_data(self, data):
        if self.stack:
            self.texts.setdefault(self.stack[-1], []).append(data)
        if self._cell is not None:
            self._cell.append(data)
        elif self.stack and self.stack[-1] == "caption":
            self.tables[-1]["caption"] += data

    def table(self, caption: str, nth: int = 0) -> dict:
        return [t for t in self.tables if t["caption"] == caption][nth]


def keyed(table: dict) -> dict[str, list[str]]:
    return {row[0]: row[1:] for row in table["rows"]}


def decode(src: str):
    from PIL import Image

    m = re.fullmatch(r"data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)", src)
    assert m, src[:80]
    im = Image.open(io.BytesIO(base64.b64decode(m.group(2))))
    im.load()
    assert im.format.lower() == m.group(1).split("/")[1]
    return im


def test_the_html_report_is_valid_self_contained_and_its_pictures_decode(html_report, lab):
    text, page = html_report
    _, ids = lab
    assert not page.errors and not page.stack, (page.errors, page.stack)
    assert text.startswith("<!DOCTYPE html>")
    assert "script" not in page.tags and "link" not in page.tags and "iframe" not in page.tags
    assert all(href.startswith("#") for href in page.links)  # the table of contents only
    assert "http" not in text.replace("http://e.vil", "")  # nothing to fetch (the evil label escaped)
    pictures = [decode(img["src"]) for img in page.images]
    # two loss curves, 2 x 2 grids, the sweep plot and 3 triplets, a filmstrip and the last
    # walk frame, 2 probe pictures, the comparison's curves, the command's curve and picture
    assert len(pictures) == 2 + 4 + 1 + 3 + 2 + 2 + 1 + 2
    assert {img["alt"] for img in page.images} >= {"reconstructions at step 60", "denoising at step 60",
                                                   "error against level", "training loss of each run"}
    headings = page.texts["h2"]
    for name in ("done", "running", "sweep", "walk", "probe", "evil"):
        assert any(h.startswith(f"#{ids[name]} ") for h in headings), (name, headings)
    assert "Comparison of 3 training runs" in headings
    gif_free = [img for img in page.images if img["src"].startswith("data:image/png")]
    assert len(gif_free) == len(page.images)  # the seeded walk has frames, no GIF: its last frame
    # pictures at full resolution: width and height attributes are whole multiples of the picture's
    for img, im in zip(page.images, pictures):
        assert int(img["width"]) % im.width == 0 and int(img["height"]) // (int(img["width"]) // im.width) == im.height


def test_the_tables_hold_the_store_numbers(html_report, lab):
    from store import queries

    _, page = html_report
    path, ids = lab
    db = Home(path).db
    metrics = queries.get_run(db, ids["done"]).metrics
    results = keyed(page.table("results"))
    assert list(results)[:2] == ["final_loss", "heldout_mse"]  # the summary first
    for key, value in metrics.items():
        assert float(results[key][0]) == pytest.approx(value, rel=1e-5), key
    points = queries.get_run(db, ids["sweep"]).results["points"]
    sweep = page.table("one row per level")
    head = sweep["head"][0]
    assert len(sweep["rows"]) == len(points)
    for row, point in zip(sweep["rows"], points):
        for key, value in point.items():
            assert float(row[head.index(key)]) == pytest.approx(value, rel=1e-5), key
    settings = keyed(page.table("settings"))
    assert settings["lr"] == ["0.0001"] and settings["options.base_width"] == ["4"] and settings["res"] == ["32"]
    # three training runs: the settings that differ, and their numbers side by side
    differ = page.table("settings that differ")
    assert differ["head"][0][1].startswith(f"#{ids['done']} ")
    assert keyed(differ)["lr"] == ["0.0001", "0.0003", "0.003"]
    assert keyed(differ)["steps"] == ["60", "400", "60"]
    assert "res" not in keyed(differ) and "model" not in keyed(differ)
    side = keyed(page.table("results side by side"))
    assert side["final_loss"] == ["0.0061", "", "0.25"]
    db.dispose()


def test_grid_rows_are_labelled_where_the_rows_are_there(html_report):
    text, _ = html_report
    # the training grids have two rows of 16-pixel tiles: labelled; the seeded "triplets"
    # are two-row pictures, not three: left unlabelled rather than mislabelled
    assert text.count('<span>input</span><span>reconstruction</span>') == 2
    assert '<span>noisy input</span><span>denoised</span>' in text
    assert "<span>corrupted</span>" not in text


def test_a_command_jobs_environment_is_not_in_the_report(html_report):
    text, page = html_report
    assert "s3cr3t-t0ken" not in text and "API_TOKEN" not in text
    assert keyed(page.table("settings", -1))["env"] == ["1 variable, not shown"]
    assert keyed(page.table("settings", -1))["argv"] == ["python, train.py"]


def test_a_command_jobs_tensorboard_scalars_and_pictures_are_in_the_report(html_report, lab):
    text, page = html_report
    _, ids = lab
    section = text[text.index(f'<section id="job-{ids["command"]}">'):]
    section = section[:section.index("</section>")]
    pictures = re.findall(r'<img src="(data:[^"]+)" alt="([^"]*)"', section)
    assert [alt for _, alt in pictures] == ["TensorBoard scalar my/metric", "my/samples at step 2"]
    curve = decode(pictures[0][0])
    assert curve.size == (860, 420)
    drawn = {c: n for n, c in curve.convert("RGB").getcolors(1 << 20)}.get((0x55, 0x55, 0x55), 0)
    assert drawn > 100  # the line, below 0: on a linear axis (a log one leaves it out)
    newest = decode(pictures[1][0])
    assert newest.size == (12, 12) and newest.convert("RGB").getpixel((5, 5)) == (200, 30, 30)


def test_user_text_is_escaped(html_report, lab):
    text, page = html_report
    _, ids = lab
    assert f"#{ids['evil']} training run: {EVIL}" in page.texts["h2"]
    assert "<script" not in text and "<img src=x" not in text and "onerror=alert(1)>" not in text
    assert any(EVIL in "".join(row) for t in page.tables for row in t["rows"])  # the metric's text, as text


def test_markdown_report_with_its_folder_of_pictures(lab, tmp_path):
    from PIL import Image

    path, ids = lab
    out = tmp_path / "notes" / "sweep.md"
    out.parent.mkdir()
    proc = aetui(path, "report", str(ids["sweep"]), str(ids["evil"]), "--format", "md", "--out", str(out), "--json")
    assert json.loads(proc.stdout) == {"path": str(out), "format": "md", "jobs": [ids["sweep"], ids["evil"]]}
    text = out.read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links and all(link.startswith("sweep_files/") for link in links)
    assert sorted(p.name for p in (tmp_path / "notes" / "sweep_files").iterdir()) == sorted(Path(x).name for x in links)
    for link in links:
        Image.open(out.parent / link).load()
    assert "| level | input\\_mse | output\\_mse |" in text
    assert "| 0.1 | 0.01 | 0.004 |" in text  # the store's first sweep point
    assert "<script>" not in text and "\\<script\\>" in text and "\\[link\\]" in text
    assert sorted(p.name for p in out.parent.iterdir()) == ["sweep.md", "sweep_files"]  # no temporary left
    # again over it: the folder is replaced, not merged
    (out.parent / "sweep_files" / "stale.png").write_bytes(b"x")
    aetui(path, "report", str(ids["sweep"]), "--out", str(out))  # .md: Markdown by its suffix
    assert "stale.png" not in {p.name for p in (out.parent / "sweep_files").iterdir()}
    assert sorted(p.name for p in out.parent.iterdir()) == ["sweep.md", "sweep_files"]


@pytest.mark.parametrize("args, message", [
    (["1", "999", "--out", "{out}"], "no job 999"),
    (["1", "0", "--out", "{out}"], "no job 0"),
    (["1", "--format", "pdf", "--out", "{out}"], "--format pdf: html or md"),
    (["1", "--out", "{tmp}/missing/r.html"], "does not exist"),
    (["1", "--out", "{tmp}"], "is a folder"),
    (["1", "--out", "{tmp}/" + "y" * 300 + ".html"], "File name too long"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(lab, tmp_path, args, message):
    path, _ = lab
    out = tmp_path / "r.html"
    proc = aetui(path, "report", *(a.format(out=out, tmp=tmp_path) for a in args), check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_is_not_a_report_is_never_replaced(lab, tmp_path):
    path, ids = lab
    data = tmp_path / "data.npy"
    data.write_bytes(b"precious")
    (tmp_path / "notes_files").mkdir()
    (tmp_path / "notes_files" / "mine.png").write_bytes(b"mine")
    for out, fmt in ((data, "html"), (tmp_path / "notes.md", "md")):
        proc = aetui(path, "report", str(ids["done"]), "--out", str(out), "--format", fmt, check=False)
        assert proc.returncode == 2 and "not replaced" in proc.stderr, proc.stderr
    assert data.read_bytes() == b"precious" and sorted(p.name for p in tmp_path.iterdir()) == ["data.npy", "notes_files"]
    assert [p.name for p in (tmp_path / "notes_files").iterdir()] == ["mine.png"]


def test_differing_settings_compares_nested_and_missing_keys():
    from aetui.spec_diff import differing_settings

    specs = [{"model": "unet", "lr": 1e-4, "options": {"depth": 2, "skips": False}},
             {"model": "unet", "lr": 3e-4, "options": {"depth": 2, "skips": True}},
             {"model": "unet", "lr": 1e-4, "options": {"depth": 2}, "levels": [0.1, 0.2]}]
    assert differing_settings(specs) == {"lr": [1e-4, 3e-4, 1e-4], "options.skips": [False, True, None],
                                         "levels": [None, None, [0.1, 0.2]]}
    assert differing_settings(specs[:1]) == {}


def test_plots_are_drawn_by_matplotlib_leaving_out_what_a_log_axis_cannot_show(tmp_path):
    from PIL import Image

    from aetui.plots import HEIGHT, WIDTH, Series, line_plot

    series = [Series("a", [0, 1, 2, 3], [0.1, None, float("nan"), 0.01]),
              Series("b", [0, 1, 2], [-1.0, 0.0, 0.5], dashed=True)]
    out = line_plot(tmp_path / "deep" / "p.png", series, title="t <&>", xlabel="level", ylabel="mse")
    with Image.open(out) as im:
        assert im.format == "PNG" and im.size == (WIDTH, HEIGHT)
        colours = {c for _, c in im.convert("RGB").getcolors(1 << 20)}
    assert (0x55, 0x55, 0x55) in colours and (0x1F, 0x5F, 0xBF) in colours  # both series drawn


def test_the_committed_example_report_is_valid_small_and_its_pictures_decode():
    """docs/examples/demo-report.html: made from `aetui demo`'s jobs (docs/report.md says how)."""
    from tests.conftest import ROOT

    example = ROOT / "docs" / "examples" / "demo-report.html"
    assert example.stat().st_size < 1.5e6
    text = example.read_text()
    page = Page.parse(text)
    assert not page.errors and not page.stack
    assert "script" not in page.tags and all(href.startswith("#") for href in page.links)
    kinds = {decode(img["src"]).format for img in page.images}
    assert kinds == {"PNG", "GIF"}
    assert "<span>input</span><span>reconstruction</span>" in text and "<span>chain 1</span>" in text
