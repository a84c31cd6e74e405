"""Each fact written once: the strings that name a fact appear as literals only in the
module that owns it; everywhere else code uses that module's names.

To guard another fact, add a `Guard` to GUARDS: the exact strings, and the files (or
folders, ending in "/") allowed to spell them. Docstrings are not code and are skipped;
f-string pieces and dict keys are literals like any other.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from store.states import AttemptOutcome, JobStatus

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("aetui", "store")  # the packages whose source is held to the guards


@dataclass(frozen=True)
class Guard:
    fact: str  # what the strings name, for the failure message
    values: frozenset[str]  # the exact literals that may appear only at home
    home: tuple[str, ...]  # files, or folders ending in "/", relative to the repository root
    allowed: frozenset[tuple[str, str]] = frozenset()  # (file, value): a same-spelled word that means something else

    def at_home(self, rel: str) -> bool:
        return any(rel == h or (h.endswith("/") and rel.startswith(h)) for h in self.home)


GUARDS = [
    Guard("job statuses and attempt outcomes (use store.states.JobStatus / AttemptOutcome)",
          frozenset(str(s) for enum in (JobStatus, AttemptOutcome) for s in enum),
          home=("store/states.py", "store/migrations/"),  # migrations keep their literal history
          allowed=frozenset({("aetui/tui/widgets/devices_panel.py", "running")})),  # "worker running"
]


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first.value))
    return found


def offences(guard: Guard, roots: tuple[str, ...] = SCANNED, base: Path = ROOT) -> list[str]:
    """`file:line: 'value'` for every literal of the guard outside its home."""
    out = []
    for root in roots:
        for path in sorted((base / root).rglob("*.py")):
            rel = path.relative_to(base).as_posix()
            if guard.at_home(rel):
                continue
            tree = ast.parse(path.read_text(), filename=rel)
            skip = _docstrings(tree)
            for node in ast.walk(tree):
                if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
                        and node.value in guard.values and (rel, node.value) not in guard.allowed):
                    out.append((rel, node.lineno, node.col_offset, node.value))
    return [f"{rel}:{line}: {value!r}" for rel, line, _, value in sorted(out)]


@pytest.mark.parametrize("guard", GUARDS, ids=lambda g: g.fact.split(" (")[0])
def test_no_literal_outside_its_home(guard: Guard):
    found = offences(guard)
    assert not found, f"{guard.fact}: literals outside {', '.join(guard.home)}:\n" + "\n".join(found)


def test_the_scan_sees_a_literal_and_skips_a_docstring(tmp_path):
    """The guard itself works: a planted literal is found, its docstring twins are not."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text('"""done"""\n\ndef f(job):\n    """failed"""\n    return job.status == "failed"\n')
    assert offences(GUARDS[0], roots=("pkg",), base=tmp_path) == ["pkg/m.py:5: 'failed'"]
