"""The run folder's layout is written once, in `aetui/run_layout.py`: this guard fails on
run-path literals anywhere else in the project's code (aetui, store, benchmarks, docs).

What counts as a run-path literal (docstrings and comments are prose and are not checked):
- a run file's name in any string: `final.pt`, `step_<n>.pt`, `stdout.log`, `stderr.log`,
  `stdout.rank<r>.log` (f-strings included);
- a run folder's name (`checkpoints`, `tb`, `images`, `slurm`) where a path is built: an
  operand of `/`, an argument of `Path(...)`/`joinpath`/`artifact_path`, or a value in a
  dict (the artifacts a job records). The same words elsewhere are other things (a spec's
  `images` count, the dashboard's `checkpoints` tab, TensorBoard's `images/input` tag);
- the run-dir formula: `<something> / str(<...id>)`.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / "aetui" / "run_layout.py"
SCANNED = ("aetui", "store", "benchmarks", "docs")

FILE_NAME = re.compile(r"(^|/)(final|step_[^/]*)\.pt$|(^|/)std(out|err)[^/]*\.log$")
FOLDERS = {"checkpoints", "tb", "images", "slurm"}
PATH_CALLS = {"Path", "PurePath", "PurePosixPath", "joinpath", "artifact_path"}


def _text(node: ast.AST) -> str | None:
    """A string constant's value; an f-string with `{}` for its fields."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            out.update(id(s.value) for s in body
                       if isinstance(s, ast.Expr) and isinstance(s.value, (ast.Constant, ast.JoinedStr)))
    return out


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _is_id(node: ast.AST) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name == "id" or name.endswith("_id")


def violations(source: str) -> list[tuple[int, str]]:
    """(line, what) of each run-path literal in one module's source."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    found: list[tuple[int, str]] = []

    def folder(node: ast.AST, where: str) -> None:
        text = _text(node)
        if text is not None and text in FOLDERS:
            found.append((node.lineno, f"run folder {text!r} {where}"))

    for node in ast.walk(tree):
        text = _text(node)
        if text is not None and id(node) not in skip:
            if FILE_NAME.search(text):
                found.append((node.lineno, f"run file {text!r}"))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            folder(node.left, "in a `/` path")
            folder(node.right, "in a `/` path")
            r = node.right
            if (isinstance(r, ast.Call) and _call_name(r) == "str" and len(r.args) == 1 and _is_id(r.args[0])):
                found.append((node.lineno, "the run-dir formula `root / str(id)`"))
        elif isinstance(node, ast.Call) and _call_name(node) in PATH_CALLS:
            for arg in node.args:
                folder(arg, f"in {_call_name(node)}(...)")
        elif isinstance(node, ast.Dict):
            for value in node.values:
                folder(value, "as a recorded artifact path")
    return sorted(set(found))


def _modules() -> list[Path]:
    files = [p for d in SCANNED for p in sorted((ROOT / d).rglob("*.py"))]
    return [p for p in files if p != HOME and ".venv" not in p.parts]


def test_run_paths_live_only_in_the_layout_module():
    bad = [f"{p.relative_to(ROOT)}:{line}: {what}" for p in _modules() for line, what in violations(p.read_text())]
    assert not bad, "use aetui.run_layout instead:\n" + "\n".join(bad)


def test_the_guard_scans_the_code_that_reads_and_writes_run_folders():
    names = {str(p.relative_to(ROOT)) for p in _modules()}
    for module in ("aetui/worker/supervisor.py", "aetui/experiments/train.py", "aetui/tui/data/results.py",
                   "store/queue.py", "aetui/home.py", "benchmarks/store_ops.py"):
        assert module in names


@pytest.mark.parametrize("source", [
    'p = run_dir / "checkpoints" / "final.pt"',
    'p = run_dir / "tb"',
    'open(run_dir / f"stdout{suffix}.log", "ab")',
    'name = f"step_{step:08d}.pt"',
    'if path.name != "stderr.log": pass',
    'ctx.artifact_path("images", name)',
    'Path(run_dir, "slurm")',
    'artifacts = {"checkpoint": "checkpoints/final.pt"}',
    'artifacts = {"tensorboard": "tb"}',
    'folder = home.runs / str(job.id)',
])
def test_the_guard_catches_run_path_literals(source):
    assert violations(source)


@pytest.mark.parametrize("source", [
    'def f():\n    """Writes checkpoints/final.pt and stdout.log."""',
    'fields = {"images": images, "noise": noise}',
    'TABS = ("loss", "log", "spec", "attempts", "checkpoints")',
    'tb.add_image("images/input", grid, step)',
    'p = layout.final_checkpoint',
    'name = f"aetui-{job_id}"',
])
def test_the_guard_leaves_other_uses_of_the_words_alone(source):
    assert not violations(source)
