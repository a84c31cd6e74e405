"""What a report says about each job, read from the store and the run folders.

One section a job: its settings, the run's facts and metrics, and what its kind
produced (a training run's loss curve and last reconstruction grids; a sweep's table,
plot and triplets; a walk's filmstrip and GIF; a probe's rows; a command's TensorBoard
scalars and the last picture of each of its image tags). Several jobs of one kind
also get a comparison: the settings that differ and the numbers side by side, with their
curves on one plot. No torch: pictures are the run's own files (or the images it wrote to
TensorBoard), curves are drawn with matplotlib (`aetui.plots`).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, Iterable

from aetui.jobs import job_detail
from aetui.plots import Series, line_plot_png
from aetui.report.document import Block, Document, Picture, Section, Table, Text
from aetui.run_summary import SUMMARY_FIELDS, summary_first
from aetui.spec_diff import differing_settings, flatten
from aetui.tui.data.curves import LOSS_TAG, read_scalars, scalar_tags
from aetui.tui.data.results import Picture as ResultPicture
from aetui.tui.data.results import Results, load_results

KIND_TITLES = {"train": "training run", "sweep": "noise sweep", "walk": "manifold walk", "probe": "representation probe",
               "command": "command", "noop": "no-op job"}
MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
        ".webp": "image/webp", ".bmp": "image/bmp"}
SUFFIX = {"PNG": ".png", "GIF": ".gif", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp"}  # by PIL's format
# a command job's TensorBoard scalars plotted, and image tags shown, each at most (the rest: `aetui tb`)
COMMAND_TAGS = 8
# the rows of each kind's grids, top to bottom (aetui.experiments.train / sweep / probe)
GRID_ROWS = {"reconstructions": ("input", "reconstruction"), "denoising": ("noisy input", "denoised"),
             "triplets": ("clean", "corrupted", "trained output")}
PROBE_ROWS = {"probe.png": ("input", "from the trained model", "from the untrained model"),
              "probe_input.png": ("input",), "probe_trained.png": ("trained",), "probe_untrained.png": ("untrained",)}
# a sweep point's columns, in this order when present (then any others)
POINT_COLUMNS = ("level", "input_mse", "output_mse", "ratio", "psnr_in", "psnr_out", "copy_mse", "noise_gain",
                 "denoised_fraction", "control_output_mse", "control_ratio", "control_psnr_out")
RUN_FACTS = ("status", "label", "device", "host", "parent_id", "created_at", "started_at", "ended_at",
             "steps_done", "error", "git_commit")
PLOT_SIZE = (860, 420)
# settings whose values a report never shows: a command job's environment may hold tokens
PRIVATE = ("env",)


def shown_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as a report shows it: private settings by their size only."""
    def hidden(v: Any) -> str:
        return f"{len(v)} variable{'' if len(v) == 1 else 's'}, not shown" if isinstance(v, dict) else "not shown"

    return {k: hidden(v) if k in PRIVATE and v else v for k, v in spec.items()}


def build(home: Any, job_ids: Iterable[int], *, title: str | None = None) -> Document:
    """The report of these jobs (in this order, each once); UserError naming the first id
    that is no job, before anything is read from a run folder."""
    ids = list(dict.fromkeys(job_ids))
    details = [job_detail(home, i) for i in ids]
    jobs = [(d, _results(d)) for d in details]
    sections = [job_section(d, r) for d, r in jobs]
    by_kind: dict[str, list[tuple[dict, Results]]] = {}
    for d, r in jobs:
        by_kind.setdefault(d["kind"], []).append((d, r))
    for kind, group in by_kind.items():
        if len(group) > 1:
            sections.append(comparison(kind, group))
    heading = title or ("Report of " + ", ".join(f"#{i}" for i in ids))
    kinds = ", ".join(f"{len(g)} {KIND_TITLES.get(k, k)}{'s' if len(g) > 1 else ''}" for k, g in by_kind.items())
    return Document(title=heading, subtitle=kinds, sections=sections)


def _results(d: dict[str, Any]) -> Results:
    return load_results(d["kind"], d["run_dir"], d["artifacts"], d["results"])


def job_title(d: dict[str, Any]) -> str:
    return f"#{d['id']} {KIND_TITLES.get(d['kind'], d['kind'])}: {d['label']}"


# ---- one job -----------------------------------------------------------------------------

def job_section(d: dict[str, Any], results: Results) -> Section:
    blocks: list[Block] = [
        Table(("", "value"), tuple((k, d.get(k)) for k in RUN_FACTS if d.get(k) not in (None, "")), "run"),
        Table(("setting", "value"), tuple(flatten(shown_spec(d["spec"])).items()), "settings"),
    ]
    if d["metrics"]:
        blocks.append(Table(("metric", "value"), tuple(summary_first(d["metrics"])), "results"))
    blocks += {"train": _train, "sweep": _sweep, "walk": _walk, "probe": _probe,
               "command": _command}.get(d["kind"], _nothing)(d, results)
    return Section(job_title(d), f"job-{d['id']}", blocks)


def _nothing(d: dict[str, Any], results: Results) -> list[Block]:
    return []


def _train(d: dict[str, Any], results: Results) -> list[Block]:
    out: list[Block] = []
    curve = read_scalars(d["run_dir"], LOSS_TAG) if d["run_dir"] else []
    if curve:
        series = [Series("training loss", [s for s, _ in curve], [v for _, v in curve], markers=len(curve) < 30)]
        held = d["metrics"].get("heldout_mse")
        if isinstance(held, (int, float)):
            series.append(Series("held-out MSE (end of training)", [curve[-1][0]], [held]))
        out.append(_plot(f"job{d['id']}_loss.png", series, title=f"#{d['id']} loss", xlabel="step",
                         ylabel="loss (MSE)", caption="training loss (TensorBoard tag train/loss)"))
    for name in ("reconstructions", "denoising"):
        album = results.album(name)
        if album and album.pictures:
            pic = album.pictures[-1]
            out.append(picture(pic.path, f"job{d['id']}_{name}.png", f"{name} at {pic.title}", GRID_ROWS[name]))
    return out


def _sweep(d: dict[str, Any], results: Results) -> list[Block]:
    out: list[Block] = []
    points = [p for p in results.points]
    if points:
        cols = [c for c in POINT_COLUMNS if any(c in p for p in points)]
        cols += [c for p in points for c in p if c not in cols and not isinstance(p[c], (list, dict))]
        cols = list(dict.fromkeys(cols))
        out.append(Table(tuple(cols), tuple(tuple(p.get(c) for c in cols) for p in points), "one row per level"))
    plot = results.album("plot")
    if plot and plot.pictures:
        out.append(picture(plot.pictures[0].path, f"job{d['id']}_sweep_plot.png", "error against level"))
    elif points:
        out.append(_plot(f"job{d['id']}_sweep_plot.png", sweep_series(points), title=f"#{d['id']} sweep",
                         xlabel="level", ylabel="mean squared error per pixel", caption="error against level"))
    triplets = results.album("triplets")
    for n, pic in enumerate(triplets.pictures if triplets else ()):
        out.append(picture(pic.path, f"job{d['id']}_triplet_{n:02d}.png", f"triplet, {pic.title}", GRID_ROWS["triplets"]))
    return out


def sweep_series(points: list[dict[str, Any]], prefix: str = "") -> list[Series]:
    levels = [p.get("level") for p in points]
    series = [Series(f"{prefix}input", levels, [p.get("input_mse") for p in points], dashed=True),
              Series(f"{prefix}trained output", levels, [p.get("output_mse") for p in points])]
    if any(p.get("control_output_mse") is not None for p in points):
        series.append(Series(f"{prefix}untrained output", levels, [p.get("control_output_mse") for p in points]))
    return series


def _walk(d: dict[str, Any], results: Results) -> list[Block]:
    out: list[Block] = []
    film = results.album("filmstrip")
    if film and film.pictures:
        steps = d["results"].get("filmstrip_steps") or []
        labels: tuple[str, ...] = ()
        caption = "filmstrip: one row per chain, time left to right"
        if steps:
            caption += " (steps " + ", ".join(str(s) for s in steps) + ")"
            rows = _grid_rows(film.pictures[0].path, columns=len(steps))
            labels = tuple(f"chain {k + 1}" for k in range(rows))
        out.append(picture(film.pictures[0].path, f"job{d['id']}_filmstrip.png", caption, labels))
    gif = d["artifacts"].get("gif")
    if isinstance(gif, str) and d["run_dir"] and (Path(d["run_dir"]) / gif).is_file():
        out.append(picture(Path(d["run_dir"]) / gif, f"job{d['id']}_walk.gif", "the walk, every saved frame"))
    else:
        frames = results.album("frames")
        if frames and frames.pictures:
            pic = frames.pictures[-1]
            out.append(picture(pic.path, f"job{d['id']}_last_frame{pic.path.suffix}", f"last frame ({pic.title})"))
    return out


def _probe(d: dict[str, Any], results: Results) -> list[Block]:
    album = results.album("images")
    pics = list(album.pictures) if album else []
    combined = [p for p in pics if p.path.name == "probe.png"]
    out: list[Block] = []
    layer = d["results"].get("layer") or d["spec"].get("layer")
    for n, pic in enumerate(combined or pics):
        caption = (f"what layer {layer} sees: each held-out image, then the input found from that layer's output "
                   "of the trained and of the untrained model") if pic.path.name == "probe.png" and layer else pic.title
        out.append(picture(pic.path, f"job{d['id']}_probe_{n:02d}{pic.path.suffix}", caption,
                           PROBE_ROWS.get(pic.path.name, ())))
    return out


def _command(d: dict[str, Any], results: Results) -> list[Block]:
    """What the command wrote under $AETUI_TB_DIR: a plot of each scalar, the newest picture
    of each image tag."""
    out: list[Block] = []
    tags = scalar_tags(d["run_dir"]) if d["run_dir"] else []
    for n, tag in enumerate(tags[:COMMAND_TAGS]):
        curve = read_scalars(d["run_dir"], tag)
        if curve:
            values = [v for _, v in curve]
            out.append(_plot(f"job{d['id']}_scalar_{n:02d}_{_slug(tag)}.png",
                             [Series(tag, [s for s, _ in curve], values, markers=len(curve) < 30)],
                             title=f"#{d['id']} {tag}", xlabel="step", ylabel=tag, caption=f"TensorBoard scalar {tag}",
                             log_y=_log_scale(values)))
    albums = [a for a in results.albums if a.pictures]
    for n, album in enumerate(albums[:COMMAND_TAGS]):
        pic = album.pictures[-1]
        out.append(picture(pic, f"job{d['id']}_image_{n:02d}_{_slug(album.name)}", f"{album.name} at {pic.title}"))
    left = max(0, len(tags) - COMMAND_TAGS) + max(0, len(albums) - COMMAND_TAGS)
    if left:
        out.append(Text(f"{left} more TensorBoard tag{'s' if left > 1 else ''} not shown: aetui tb {d['id']}"))
    return out


def _log_scale(values: list[float]) -> bool:
    """A log axis for a scalar that is positive and spans a factor of 10 or more (a loss);
    any other scalar (an accuracy, a learning rate's warm-up, a value below 0) on a linear one."""
    return bool(values) and min(values) > 0 and max(values) >= 10 * min(values)


def _slug(tag: str) -> str:
    """A tag as part of a file name (`train/loss` -> `train_loss`)."""
    return re.sub(r"[^A-Za-z0-9-]+", "_", tag).strip("_")[:60] or "tag"


# ---- several jobs of one kind ------------------------------------------------------------

def comparison(kind: str, group: list[tuple[dict[str, Any], Results]]) -> Section:
    details = [d for d, _ in group]
    heads = tuple(f"#{d['id']} {d['label']}" for d in details)
    differ = differing_settings([shown_spec(d["spec"]) for d in details])
    blocks: list[Block] = []
    if differ:
        blocks.append(Table(("setting", *heads), tuple((k, *v) for k, v in differ.items()), "settings that differ"))
    else:
        blocks.append(Text("Their settings are the same."))
    keys = [k for k in SUMMARY_FIELDS if any(k in d["metrics"] for d in details)] if kind == "train" else []
    keys += [k for d in details for k, v in d["metrics"].items()
             if k not in keys and isinstance(v, (int, float)) and not isinstance(v, bool)]
    keys = list(dict.fromkeys(keys))
    if keys:
        blocks.append(Table(("metric", *heads), tuple((k, *(d["metrics"].get(k) for d in details)) for k in keys),
                            "results side by side"))
    name = f"compare_{kind}_" + "_".join(str(d["id"]) for d in details)
    if kind == "train":
        series = []
        for d in details:
            curve = read_scalars(d["run_dir"], LOSS_TAG) if d["run_dir"] else []
            if curve:
                series.append(Series(f"#{d['id']}", [s for s, _ in curve], [v for _, v in curve], markers=False))
        if series:
            blocks.append(_plot(f"{name}.png", series, title="training loss", xlabel="step", ylabel="loss (MSE)",
                                caption="training loss of each run"))
    elif kind == "sweep":
        series = [Series(f"#{d['id']} trained output", [p.get("level") for p in r.points],
                         [p.get("output_mse") for p in r.points]) for d, r in group if r.points]
        if series:
            blocks.append(_plot(f"{name}.png", series, title="trained output error against level", xlabel="level",
                                ylabel="mean squared error per pixel", caption="each sweep's trained output"))
    elif kind == "walk":
        series = [Series(f"#{d['id']}", list(range(1, len(d["results"]["step_size"]) + 1)), d["results"]["step_size"],
                         markers=False) for d in details if d["results"].get("step_size")]
        if series:
            blocks.append(_plot(f"{name}.png", series, title="mean step size", xlabel="step", ylabel="||f(n+1) - f(n)||",
                                caption="how far the chains move at each step"))
    count = len(details)
    return Section(f"Comparison of {count} {KIND_TITLES.get(kind, kind)}s", f"compare-{kind}", blocks)


# ---- pictures ----------------------------------------------------------------------------

def picture(source: "Path | ResultPicture", name: str, caption: str, labels: tuple[str, ...] = ()) -> Picture:
    """A picture file, or a result picture (a file, or bytes read from TensorBoard); a
    `name` without a suffix gets the picture's."""
    if isinstance(source, ResultPicture) and source.data is not None:
        data = source.data
        suffix = SUFFIX.get(_format(data), ".png")
    else:
        path = source.path if isinstance(source, ResultPicture) else Path(source)
        data = path.read_bytes()
        suffix = path.suffix.lower()
    if not Path(name).suffix:
        name += suffix
    size = _size(data)
    return Picture(name=name, data=data, mime=MIME.get(suffix, "image/png"), caption=caption,
                   row_labels=labels if _rows_fit(size, len(labels)) else (), size=size)


def _plot(name: str, series: list[Series], *, title: str, xlabel: str, ylabel: str, caption: str,
          log_y: bool = True) -> Picture:
    data = line_plot_png(series, title=title, xlabel=xlabel, ylabel=ylabel, size=PLOT_SIZE, log_y=log_y)
    return Picture(name=name, data=data, mime="image/png", caption=caption, size=_size(data))


def _size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:  # not a picture PIL reads: shown without labels
        return (0, 0)


def _format(data: bytes) -> str:
    """PIL's name of the picture's format ("PNG", "JPEG"...), "" when it is none PIL reads."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.format or ""
    except Exception:
        return ""


def _rows_fit(size: tuple[int, int], rows: int) -> bool:
    """Whether a grid of `rows` rows of square tiles (1-pixel borders, as the runners draw
    them) has this size: labels are only put beside rows that are really there."""
    w, h = size
    if rows < 1 or h < 2 or (h - 1) % rows:
        return False
    tile = (h - 1) // rows
    return tile > 1 and (w - 1) % tile == 0


def _grid_rows(path: Path, *, columns: int) -> int:
    """The rows of a grid of square tiles that has `columns` columns (0 when it has not)."""
    w, h = _size(Path(path).read_bytes())
    if columns < 1 or (w - 1) % columns:
        return 0
    tile = (w - 1) // columns
    return (h - 1) // tile if tile > 1 and (h - 1) % tile == 0 else 0
