"""Screenshots of the dashboard's main screens for docs/dashboard.md, from a real home.

    python docs/screenshots.py --home H [--out docs/img] [--size 120x36] [--png]

Opens the dashboard on H with Textual's headless driver, walks to each screen with the
keys a user presses, and saves each as SVG (Textual's own export; pictures in half-block
mode, as over plain SSH); `--png` converts them with `rsvg-convert` (Debian's
`librsvg2-bin`), a third of the size, which is what docs/img holds. H should hold two finished training runs, a sweep and a walk on
the newer one: what `aetui demo --home H` leaves, plus one more training job. The
script tags the newer training run `best` and writes a note on it (`aetui tag`, `aetui
note`), so the table and the run view show both.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--home", required=True)
    p.add_argument("--out", default=str(ROOT / "docs" / "img"))
    p.add_argument("--size", default="120x36", help="columns x rows")
    p.add_argument("--png", action="store_true", help="PNG (1400 px wide) instead of SVG")
    args = p.parse_args()
    cols, rows = (int(x) for x in args.size.split("x"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in asyncio.run(shoot(Path(args.home), out, (cols, rows))):
        svg = out / name
        if args.png:
            png = svg.with_suffix(".png")
            subprocess.run(["rsvg-convert", "-w", "1400", str(svg), "-o", str(png)], check=True)
            svg.unlink()
            svg = png
        print(svg)
    return 0


def jobs_by_kind(home) -> dict[str, list[int]]:
    """Finished jobs' ids by kind, newest first."""
    from store.queries import list_jobs

    found: dict[str, list[int]] = {}
    for job in list_jobs(home.db, status="done"):
        found.setdefault(job.kind, []).append(job.id)
    return found


async def shoot(path: Path, out: Path, size: tuple[int, int]) -> list[str]:
    from aetui.home import Home
    from aetui.tui.app import AetuiApp
    from aetui.tui.screens.main import MainScreen

    home = Home.resolve(path)
    jobs = jobs_by_kind(home)
    trains, sweeps, walks = jobs.get("train", []), jobs.get("sweep", []), jobs.get("walk", [])
    if len(trains) < 2 or not sweeps or not walks:
        raise SystemExit(f"{path} needs two finished training runs, a sweep and a walk; it has {jobs}")
    from aetui import jobs as job_ops

    job_ops.tag(home, trains[0], ["best"])
    job_ops.note(home, trains[0], "skips: near-perfect reconstructions, and the noise too")
    app = AetuiApp(home, graphics="halfblock")
    saved: list[str] = []

    async def settle(pilot, seconds: float = 0.6) -> None:
        """Let the screen's loaders finish and their pictures arrive."""
        for _ in range(3):
            await asyncio.gather(*(w.wait() for w in list(app.workers)), return_exceptions=True)
            await pilot.pause(seconds / 3)

    def save(name: str) -> None:
        (out / name).write_text(app.export_screenshot(), encoding="utf-8")
        saved.append(name)

    async def select(pilot, job_id: int) -> None:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        table = screen.table
        ids = [table.row_at(i).id for i in range(min(table.total, 200)) if table.row_at(i) is not None]
        await pilot.press("g", *(["j"] * ids.index(job_id)))
        await pilot.pause()

    async def back(pilot) -> None:
        await pilot.press("escape")
        await settle(pilot)

    async with app.run_test(size=size) as pilot:
        while not (isinstance(app.screen, MainScreen) and app.screen.seen is not None and app.screen.table.loaded):
            await pilot.pause(0.1)
        await settle(pilot, 2.5)  # the devices panel samples after the store opens
        await select(pilot, trains[0])
        save("dashboard-runs.svg")

        await pilot.press("enter")
        await settle(pilot, 1.5)
        save("dashboard-run.svg")
        await pilot.press("2")  # the Log tab
        await settle(pilot)
        save("dashboard-run-log.svg")
        await pilot.press("1", "s")  # the scalar picker over the Loss tab
        await settle(pilot)
        save("dashboard-scalar-picker.svg")
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot, 1.5)
        await pilot.press("G")  # the last step's grids
        await settle(pilot)
        save("dashboard-results-training.svg")
        await back(pilot)
        await back(pilot)

        for job_id, name in ((sweeps[0], "sweep"), (walks[0], "walk")):
            await select(pilot, job_id)
            await pilot.press("r")
            await settle(pilot, 1.5)
            if name == "walk":
                await pilot.press("G")  # the walk's last frame
                await settle(pilot)
            save(f"dashboard-results-{name}.svg")
            await back(pilot)

        for job_id in trains[:2]:
            await select(pilot, job_id)
            await pilot.press("space")
        await pilot.press("c")
        await settle(pilot, 1.5)
        save("dashboard-compare.svg")
        await back(pilot)

        await select(pilot, trains[0])
        await pilot.press("l")
        await settle(pilot)
        save("dashboard-launch.svg")
        await back(pilot)

        await pilot.press("question_mark")
        await settle(pilot)
        save("dashboard-help.svg")
        await back(pilot)
    return saved


if __name__ == "__main__":
    sys.exit(main())
