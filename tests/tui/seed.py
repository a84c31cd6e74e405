"""A realistic store for dashboard tests and demos, written through `store.queue`.

Jobs of every kind and status, run folders with reconstruction grids, TensorBoard loss
curves (written with tensorboard's own event writer: no torch), logs, checkpoints, and
sweep/walk/probe pictures recorded in `Run.artifacts`. Times are fixed afterwards so
snapshots do not change from run to run.

    python tests/tui/seed.py /tmp/aetui-demo [--bulk 10000]
"""

from __future__ import annotations

import math
import random
import sys
import uuid
from pathlib import Path

from aetui.home import Home

T0 = 1_717_236_000.0  # 2024-06-01 10:00 UTC
TINY_SPEC = {"model": "unet", "res": 32, "data": "builtin:64", "steps": 60, "batch_size": 8,
             "options": {"base_width": 4, "depth": 2}, "log_every": 5, "image_every": 20, "checkpoint_every": 20}


def train_spec(**over) -> dict:
    from aetui.specs import parse_spec

    return parse_spec("train", {**TINY_SPEC, **over}).model_dump(mode="json")


def _tile(seed: int, size: int = 16, blur: float = 0.0):
    """A small smooth picture (a few coloured blobs), deterministic in `seed`."""
    from PIL import Image, ImageDraw, ImageFilter

    rnd = random.Random(seed)
    im = Image.new("RGB", (size, size), tuple(rnd.randrange(40, 200) for _ in range(3)))
    d = ImageDraw.Draw(im)
    for _ in range(3):
        x, y, r = rnd.randrange(size), rnd.randrange(size), rnd.randrange(size // 5, size // 2)
        d.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rnd.randrange(256) for _ in range(3)))
    return im.filter(ImageFilter.GaussianBlur(blur)) if blur else im


def grid(seed: int, quality: float, n: int = 6, size: int = 16):
    """Two rows: inputs on top, 'reconstructions' (blurred by 1 - quality) below."""
    from PIL import Image

    out = Image.new("RGB", (n * (size + 1) + 1, 2 * (size + 1) + 1), (255, 255, 255))
    for i in range(n):
        out.paste(_tile(seed * 100 + i, size), (1 + i * (size + 1), 1))
        out.paste(_tile(seed * 100 + i, size, blur=3 * (1 - quality)), (1 + i * (size + 1), size + 2))
    return out


def write_curve(run_dir: Path, points: list[tuple[int, float]], tag: str = "train/loss") -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    w = EventFileWriter(str(run_dir / "tb"))
    for step, value in points:
        w.add_event(event_pb2.Event(step=step, wall_time=T0 + step, summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])))
    w.close()


def write_images(run_dir: Path, tag: str, steps: dict[int, list], *, tf2: bool = False) -> None:
    """Pictures (PIL images) as TensorBoard image summaries, with tensorboard's own writer:
    one a step as torch's `add_image` writes them, or (`tf2`) several a step as
    `tf.summary.image` does (a string tensor: width, height, then each encoded picture)."""
    import io

    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
    from tensorboard.plugins.image.metadata import create_summary_metadata
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    def png(im) -> bytes:
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        return buf.getvalue()

    w = EventFileWriter(str(run_dir / "tb"))
    for step, images in steps.items():
        width, height = images[0].size
        if tf2:
            strings = [str(width).encode(), str(height).encode(), *map(png, images)]
            tensor = tensor_pb2.TensorProto(dtype=7, string_val=strings,  # DT_STRING
                                            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                                                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=len(strings))]))
            meta = create_summary_metadata(display_name=tag, description="")
            values = [summary_pb2.Summary.Value(tag=tag, tensor=tensor, metadata=meta)]
        else:
            values = [summary_pb2.Summary.Value(tag=tag, image=summary_pb2.Summary.Image(
                height=height, width=width, colorspace=3, encoded_image_string=png(im))) for im in images]
        w.add_event(event_pb2.Event(step=step, wall_time=T0 + step, summary=summary_pb2.Summary(value=values)))
    w.close()


def loss_curve(steps: int, every: int, start: float = 0.2, floor: float = 0.004, wobble: int = 0):
    rnd = random.Random(wobble)
    return [(s, floor + (start - floor) * math.exp(-s / (steps / 4)) * (1 + 0.1 * rnd.random()))
            for s in range(every, steps + 1, every)]


def training_folder(run_dir: Path, steps: int, *, upto: int | None = None, seed: int = 0, image_every: int = 20):
    upto = steps if upto is None else upto
    (run_dir / "images").mkdir(parents=True, exist_ok=True)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    for s in range(image_every, upto + 1, image_every):
        grid(seed, s / steps).save(run_dir / "images" / f"recon_{s:08d}.png")
        grid(seed + 7, s / steps).save(run_dir / "images" / f"denoise_{s:08d}.png")
        (run_dir / "checkpoints" / f"step_{s:08d}.pt").write_bytes(b"\0" * 1024)
    if upto == steps:
        (run_dir / "checkpoints" / "final.pt").write_bytes(b"\0" * 2048)
    write_curve(run_dir, loss_curve(upto, 5, wobble=seed))
    lines = [f"step {s}/{steps} loss {v:.5f}" for s, v in loss_curve(upto, 5, wobble=seed)]
    (run_dir / "stdout.log").write_text("aetui: training unet res32 on cpu\n" + "\n".join(lines) + "\n")
    (run_dir / "stderr.log").write_text("")


def seed(home: Home) -> dict[str, int]:
    """Eight jobs, one of each interesting kind and state; returns their ids by name."""
    from store import queue

    db = home.db
    runs = "runs"  # as aetui stores run folders inside the home: relative to it
    ids: dict[str, int] = {}

    def add(name, kind, spec, label, total=0, parent=None, priority=0):
        job = queue.enqueue_many(db, [dict(kind=kind, spec=spec, label=label, total_steps=total)], run_root=runs,
                                 parent_id=parent, priority=priority)[0]
        ids[name] = job.id
        return job.id

    def run(job_id, *, worker="vm:100", device="cpu"):
        got = queue.claim(db, worker=worker, host="vm", pid=100, device=device, job_id=job_id)
        assert got is not None and got.id == job_id

    spec = train_spec()
    label = "unet res32 builtin:64 base_width=4 depth=2"
    # 1: a finished training run with grids, curve, checkpoints
    j = add("done", "train", spec, label, total=60)
    run(j)
    rd = home.run_dir(j)
    training_folder(rd, 60, seed=1)
    queue.progress(db, job_id=j, step=60, total_steps=60, loss=0.0061, images_per_s=850.0, eta_s=0.0)
    queue.record_run(db, job_id=j, metrics={"final_loss": 0.0061, "heldout_mse": 0.0072, "steps_done": 60,
                                            "images_per_s": 850.0, "wall_s": 4.2, "params": 12345},
                     artifacts={"checkpoint": "checkpoints/final.pt", "tensorboard": "tb", "images": "images",
                                "stdout": "stdout.log", "stderr": "stderr.log"})
    queue.finish(db, job_id=j, worker="vm:100", status="done", step=60)
    # 2: running, part way
    j = add("running", "train", train_spec(steps=400, lr=3e-4), "unet res32 builtin:64 lr=3e-4", total=400)
    run(j)
    training_folder(home.run_dir(j), 400, upto=120, seed=2)
    queue.progress(db, job_id=j, step=120, total_steps=400, loss=0.0213, images_per_s=640.0, eta_s=175.0)
    # 3: failed
    j = add("failed", "train", train_spec(lr=0.5), "unet res32 builtin:64 lr=0.5", total=60)
    run(j)
    (home.run_dir(j)).mkdir(parents=True, exist_ok=True)
    (home.run_dir(j) / "stderr.log").write_text("Traceback (most recent call last):\nJobFailed: diverged at step 15\n")
    queue.progress(db, job_id=j, step=15, total_steps=60, loss=812.0)
    queue.finish(db, job_id=j, worker="vm:100", status="failed", error="diverged at step 15: loss is not finite")
    # 4: cancelled, 5: queued
    j = add("cancelled", "train", train_spec(res=64), "unet res64 builtin:64", total=60)
    queue.cancel(db, job_id=j)
    add("queued", "train", train_spec(steps=2000), "unet res32 builtin:64 steps=2000", total=2000, priority=1)
    # 6-8: experiments on run 1
    parent = ids["done"]
    sweep_points = [{"level": lv, "input_mse": 0.01 * (k + 1) ** 2, "output_mse": 0.004 * (k + 1),
                     "ratio": 0.4 / (k + 1), "psnr_in": 20 - 3 * k, "psnr_out": 24 - k,
                     "control_output_mse": 0.05, "control_ratio": 1.1} for k, lv in enumerate((0.1, 0.3, 0.5))]
    j = add("sweep", "sweep", {"run": parent, "noise": "mix", "levels": [0.1, 0.3, 0.5]}, f"sweep of #{parent} mix",
            parent=parent)
    run(j)
    sd = home.run_dir(j)
    (sd / "triplets").mkdir(parents=True, exist_ok=True)
    trip = []
    for k in range(3):
        p = sd / "triplets" / f"level_{k}.png"
        grid(30 + k, 1 - k / 3, n=3).save(p)
        trip.append(f"triplets/level_{k}.png")
    _plot().save(sd / "plot.png")
    queue.record_run(db, job_id=j, artifacts={"triplets": trip, "plot": "plot.png"}, results={"points": sweep_points})
    queue.finish(db, job_id=j, worker="vm:100", status="done")
    j = add("walk", "walk", {"run": parent, "mode": "iterate", "steps": 4}, f"walk of #{parent} iterate",
            parent=parent)
    run(j)
    wd = home.run_dir(j)
    (wd / "frames").mkdir(parents=True, exist_ok=True)
    frames = []
    for k in range(4):
        _tile(50, 24, blur=3 - k).save(wd / "frames" / f"frame_{k:04d}.png")
        frames.append(f"frames/frame_{k:04d}.png")
    grid(50, 1.0, n=4, size=24).save(wd / "filmstrip.png")
    queue.record_run(db, job_id=j, artifacts={"frames": frames, "filmstrip": "filmstrip.png"})
    queue.finish(db, job_id=j, worker="vm:100", status="done")
    j = add("probe", "probe", {"run": parent, "layer": "down.1"}, f"probe of #{parent} down.1", parent=parent)
    run(j)
    pd = home.run_dir(j)
    pd.mkdir(parents=True, exist_ok=True)
    for k in range(2):
        _tile(70 + k, 24).save(pd / f"probe_{k}.png")
    queue.record_run(db, job_id=j, artifacts={"images": [f"probe_{k}.png" for k in range(2)]})
    queue.finish(db, job_id=j, worker="vm:100", status="done")
    fix_times(home)
    return ids


def _plot():
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (60, 40), (250, 250, 250))
    d = ImageDraw.Draw(im)
    d.line([(5, 35), (30, 20), (55, 8)], fill=(200, 40, 40), width=2)
    d.line([(5, 30), (30, 28), (55, 25)], fill=(40, 40, 200), width=2)
    return im


def fix_times(home: Home) -> None:
    """Deterministic times: job n created at T0 + 60 n, started a second later, ended after 30 s."""
    from sqlalchemy import select, update

    from store.engine import write
    from store.tables import Attempt, Job

    with write(home.db) as s:
        for job in s.execute(select(Job).where(Job.created_at >= T0)).scalars().all():
            base = T0 + 60 * job.id
            job.created_at = base
            job.updated_at = base + 2 if job.status in ("queued", "running") else base + 31
            job.started_at = base + 1 if job.started_at else None
            job.ended_at = base + 31 if job.ended_at else None
            s.add(job)
        for a in s.execute(select(Attempt).join(Job, Job.id == Attempt.job_id)
                           .where(Job.created_at >= T0)).scalars().all():
            s.execute(update(Attempt).where(Attempt.id == a.id).values(
                started_at=T0 + 60 * a.job_id + 1, ended_at=(T0 + 60 * a.job_id + 31) if a.ended_at else None))


def bulk(home: Home, n: int) -> None:
    """`n` more finished training jobs (for the 10,000-row checks), inserted in one
    executemany with the standard library: SQLAlchemy's ORM takes seconds for this."""
    import json
    import sqlite3

    home.db  # the schema exists
    spec = train_spec()
    rnd = random.Random(0)
    models = ("unet", "mlp", "attn-unet")
    statuses = ("done",) * 8 + ("failed", "cancelled")
    con = sqlite3.connect(home.db_url)
    with con:
        start = (con.execute("SELECT max(id) FROM job").fetchone()[0] or 0) + 1
        jobs, runs = [], []
        for k in range(n):
            jid, m, st = start + k, models[k % 3], statuses[k % len(statuses)]
            jobs.append((jid, "train", st, json.dumps({**spec, "model": m}), f"{m} res32 bulk{k}", 0, "auto",
                         T0 - 86400 + k, T0 - 86400 + k, 60 if st == "done" else 20, 60, rnd.uniform(0.001, 0.05),
                         0, "cpu", uuid.uuid4().hex))
            runs.append((jid, f"runs/{jid}", "{}", "{}", "{}", "{}"))
        con.executemany("INSERT INTO job (id, kind, status, spec, label, priority, device, created_at, updated_at, "
                        "step, total_steps, loss, cancel_requested, assigned_device, uid) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", jobs)
        con.executemany("INSERT INTO run (id, run_dir, metrics, artifacts, results, versions) "
                        "VALUES (?, ?, ?, ?, ?, ?)", runs)
    con.close()


if __name__ == "__main__":
    target = Path(sys.argv[1])
    h = Home(target.resolve())
    if "--bulk" in sys.argv:
        bulk(h, int(sys.argv[sys.argv.index("--bulk") + 1]))
    print(seed(h))
