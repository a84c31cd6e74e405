"""The layout of a run folder: where a job's checkpoints, logs, TensorBoard events and
pictures are, and where the folder itself is (`<runs root>/<job id>`).

Every reader and writer of run folders (the store's run rows, the worker, the experiments,
the dashboard, the CLI, the benchmarks) goes through this module, so the layout is written
once; `tests/test_literals_paths.py` rejects these names anywhere else. It imports nothing
of aetui and nothing heavy: the store and `aetui --help` may import it.

    <runs root>/<job id>/
        checkpoints/step_00000100.pt ... final.pt   (the newest few steps, then the final one)
        tb/                                          TensorBoard events
        images/recon_<step>.png, denoise_<step>.png  a training's pictures
        stdout.log, stderr.log                       the job's output (rank r > 0: stdout.rank<r>.log)
        slurm/                                       submitit's files when the job ran on Slurm
        code/model/, code/model.json                 your own model's files, snapshotted at queue
        code/data/, code/data.json                   time, and their manifest (aetui.code_snapshot)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CHECKPOINTS = "checkpoints"
FINAL = "final.pt"
STEP_FILE = re.compile(r"step_(\d+)\.pt")
TB = "tb"
IMAGES = "images"
STDOUT = "stdout.log"
STDERR = "stderr.log"
SLURM = "slurm"
CODE = "code"
CODE_ROLES = ("model", "data")  # whose code a run snapshots: its model's, its data function's


def run_dir(runs_root: str | Path, job_id: int) -> Path:
    """The run-dir formula: a job's folder under the runs root."""
    return Path(runs_root) / str(job_id)


def step_name(step: int) -> str:
    """A step checkpoint's file name (zero-padded, so names sort by step)."""
    return f"step_{step:08d}.pt"


def log_names(rank: int = 0) -> tuple[str, str]:
    """(stdout, stderr) file names of one process of a job: rank 0's are the job's logs."""
    if not rank:
        return STDOUT, STDERR
    return f"stdout.rank{rank}.log", f"stderr.rank{rank}.log"


# What a finished training records as its artifacts: paths relative to its run folder.
TRAIN_ARTIFACTS = {"checkpoint": f"{CHECKPOINTS}/{FINAL}", "tensorboard": TB, "images": IMAGES,
                   "stdout": STDOUT, "stderr": STDERR}


@dataclass(frozen=True)
class RunLayout:
    """One run folder's paths."""

    root: Path

    @classmethod
    def of(cls, runs_root: str | Path, job_id: int) -> "RunLayout":
        return cls(run_dir(runs_root, job_id))

    @classmethod
    def at(cls, folder: str | Path) -> "RunLayout":
        return cls(Path(folder))

    @property
    def checkpoints(self) -> Path:
        return self.root / CHECKPOINTS

    @property
    def final_checkpoint(self) -> Path:
        return self.checkpoints / FINAL

    def step_checkpoint(self, step: int) -> Path:
        return self.checkpoints / step_name(step)

    @property
    def tb(self) -> Path:
        return self.root / TB

    @property
    def images(self) -> Path:
        return self.root / IMAGES

    def image(self, name: str) -> Path:
        return self.images / name

    @property
    def stdout(self) -> Path:
        return self.root / STDOUT

    @property
    def stderr(self) -> Path:
        return self.root / STDERR

    def logs(self, rank: int = 0) -> tuple[Path, Path]:
        """(stdout, stderr) of one process of the job (rank 0: the job's own)."""
        out, err = log_names(rank)
        return self.root / out, self.root / err

    @property
    def slurm(self) -> Path:
        return self.root / SLURM

    def code_dir(self, role: str) -> Path:
        """Where the snapshot of the run's own model or data code lies (first on sys.path)."""
        return self.root / CODE / role

    def code_manifest(self, role: str) -> Path:
        """The snapshot's manifest: its sha256, files, source folder and git commit."""
        return self.root / CODE / f"{role}.json"
