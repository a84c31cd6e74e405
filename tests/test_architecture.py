"""The shape of the code: no import cycle among our own modules, and a dashboard that
never imports torch.

An import inside a function is still an import: it runs whenever that function does,
so a cycle hidden in one breaks as soon as the import moves to the top or the call
order changes. The graph below is read with `ast` (nothing is imported), from every
module of `aetui` and `store`, top-level and function-level imports alike; imports under
`if TYPE_CHECKING:` never run and are left out.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("aetui", "store")


def our_modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of our packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking_block(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _imports(tree: ast.AST):
    """Every Import/ImportFrom node, at any depth, except under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if _type_checking_block(node):
            yield from (n for child in node.orelse for n in _imports(ast.Module(body=[child], type_ignores=[])))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _imports(node)


def _ours(name: str, modules: dict[str, Path]) -> str | None:
    """The module of ours that importing `name` names: itself, else its longest
    enclosing module (`import aetui.models.catalog.x` is not a thing, but be safe)."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imported_modules(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that `module` imports, anywhere in its body.

    `from pkg import name` imports `pkg.name` when that is a module, else `pkg` (a name
    defined in its `__init__`); relative imports are resolved against the module's
    package (a package's `__init__` is its own package).
    """
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        for target in targets:
            ours = _ours(target, modules)
            if ours is not None and ours != module:
                out.add(ours)
    return out


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {m: imported_modules(m, p, modules) for m, p in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (`[a, b, ..., a]`), or None. Iterative DFS, three colours."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for start in sorted(graph):
        if colour[start] != WHITE:
            continue
        stack = [(start, iter(sorted(graph[start])))]
        path = [start]
        colour[start] = GREY
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = BLACK
                stack.pop()
                path.pop()
            elif colour.get(child, BLACK) == GREY:
                return path[path.index(child):] + [child]
            elif colour.get(child) == WHITE:
                colour[child] = GREY
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)
    return None


def test_no_import_cycle_among_our_modules() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_graph_reader_resolves_relative_and_submodule_imports(tmp_path: Path) -> None:
    """The reader itself: a cycle through a relative import inside a function, and
    `from pkg import module`, are both seen; TYPE_CHECKING imports are not."""
    pkg = tmp_path / "p"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from p.sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("X = 1\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from .. import c\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import p.a\n"
                              "def g():\n    from .sub import X\n    from . import a\n")
    modules = {"p": pkg / "__init__.py", "p.a": pkg / "a.py", "p.sub": pkg / "sub" / "__init__.py",
               "p.sub.b": pkg / "sub" / "b.py", "p.c": pkg / "c.py"}
    graph = {m: imported_modules(m, path, modules) for m, path in modules.items()}
    assert graph == {"p": set(), "p.a": {"p.sub.b"}, "p.sub": set(), "p.sub.b": {"p.c"}, "p.c": {"p.sub", "p.a"}}
    assert find_cycle(graph) == ["p.a", "p.sub.b", "p.c", "p.a"]
    graph["p.c"] = {"p.sub"}
    assert find_cycle(graph) is None


def test_the_specs_are_data_below_the_runners() -> None:
    """`aetui.specs` imports nothing of `aetui.experiments` (the runners import specs)."""
    graph = import_graph()
    specs = [m for m in graph if m == "aetui.specs" or m.startswith("aetui.specs.")]
    assert specs
    bad = {m: sorted(t for t in graph[m] if t.startswith("aetui.experiments")) for m in specs}
    assert not any(bad.values()), bad


# ---- the dashboard without torch --------------------------------------------------------

# Runs in a fresh interpreter over a seeded home (argv[1]): opens each screen with the real
# devices sampler, then prints the modules that were importing when torch first came in.
_OPEN_EVERY_SCREEN = r'''
import sys, traceback

first = []

class Spy:
    """Records our frames on the stack of the first `import torch` (a finder that finds nothing)."""
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not first:
            ours = [f for f in traceback.extract_stack() if "/aetui/" in f.filename or "/store/" in f.filename]
            first.append("first imported by:\n" + "".join(traceback.format_list(ours)))
        return None

sys.meta_path.insert(0, Spy())

from aetui.home import Home
from aetui.tui.screens.compare import CompareScreen
from aetui.tui.screens.help import HelpScreen
from aetui.tui.screens.launch import LaunchScreen
from aetui.tui.screens.main import MainScreen
from aetui.tui.screens.results import ResultsScreen
from aetui.tui.screens.run import RunScreen
import asyncio
from tests.tui.helpers import make_app, select_job, settle, until

ids = {k: int(v) for k, v in (a.split("=") for a in sys.argv[2:])}
from pathlib import Path
app = make_app(Home(Path(sys.argv[1])), devices_sampler=None)
opened = []

async def back(pilot):
    await pilot.press("escape")
    await until(pilot, lambda: isinstance(pilot.app.screen, MainScreen), 60, "main screen again")

async def open_screen(pilot, job_id, keys, screen_type):
    await select_job(pilot, job_id)
    for key in keys:
        await pilot.press(key)
    await until(pilot, lambda: isinstance(pilot.app.screen, screen_type), 60, screen_type.__name__)
    await until(pilot, lambda: getattr(pilot.app.screen, "data", True) is not None
                and getattr(pilot.app.screen, "results", True) is not None
                and getattr(pilot.app.screen, "form", True) is not None, 60, f"{screen_type.__name__} loaded")
    await settle(pilot)
    opened.append(type(pilot.app.screen).__name__)
    await back(pilot)

async def scenario():
    async with app.run_test(size=(80, 24)) as pilot:
        screen = pilot.app.screen  # a cold interpreter: the first load may take a while
        await until(pilot, lambda: screen.table.loaded and screen.seen is not None, 120, "first load")
        await settle(pilot)
        await open_every_screen(pilot)

async def open_every_screen(pilot):
    opened.append(type(pilot.app.screen).__name__)
    await open_screen(pilot, ids["done"], ["enter"], RunScreen)
    await open_screen(pilot, ids["sweep"], ["r"], ResultsScreen)
    await open_screen(pilot, ids["done"], ["r"], ResultsScreen)
    await open_screen(pilot, ids["running"], ["space", "space", "c"], CompareScreen)
    await open_screen(pilot, ids["done"], ["n"], LaunchScreen)
    await open_screen(pilot, ids["done"], ["l"], LaunchScreen)
    await open_screen(pilot, ids["done"], ["question_mark"], HelpScreen)

asyncio.run(asyncio.wait_for(scenario(), 240))
print("opened:", " ".join(opened))
print("torch imported:", "torch" in sys.modules)
if first:
    print(first[0])
'''


def test_no_dashboard_module_imports_torch_when_imported() -> None:
    """The quick loop's check (the test below opens every screen, ~15 s: slow): a fresh
    interpreter imports every module of `aetui.tui`, and torch is not among its modules."""
    modules = sorted(m for m in our_modules() if m == "aetui.tui" or m.startswith("aetui.tui."))
    assert "aetui.tui.app" in modules and "aetui.tui.screens.main" in modules
    code = ("import importlib, sys\n"
            f"for name in {modules!r}:\n    importlib.import_module(name)\n"
            "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip() == "[]", "a dashboard module imports torch: " + proc.stdout


@pytest.mark.slow
def test_every_dashboard_screen_opens_without_importing_torch(tmp_path: Path) -> None:
    """Torch costs seconds and hundreds of MB: the dashboard shows runs, it never needs it.
    A fresh interpreter opens the main table, a run's detail, the results browser (a sweep
    and a training run), compare, both launch forms and the help."""
    from aetui.home import Home
    from tests.tui.seed import seed

    home = Home(tmp_path / "home")
    ids = seed(home)
    home.db.dispose()
    env = {**os.environ, "TZ": "UTC"}
    for var in ("AETUI_DB", "AETUI_RUNS_ROOT", "AETUI_GRAPHICS", "AETUI_HOME"):
        env.pop(var, None)
    proc = subprocess.run([sys.executable, "-c", _OPEN_EVERY_SCREEN, str(home.path),
                           *(f"{k}={v}" for k, v in ids.items())],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.splitlines()[0] == ("opened: MainScreen RunScreen ResultsScreen ResultsScreen "
                                           "CompareScreen LaunchScreen LaunchScreen HelpScreen"), proc.stdout
    assert "torch imported: False" in proc.stdout, "a dashboard screen imported torch:\n" + proc.stdout


# ---- layers -------------------------------------------------------------------------------

# What each layer must never import (a prefix matches the package and its modules). The
# table is docs/architecture.md's picture of the layers: change both together.
FORBIDDEN = {
    "store": ("aetui",),  # persistence knows nothing of the application...
    "aetui.specs": ("aetui.experiments", "aetui.worker", "aetui.jobs", "aetui.cli", "aetui.tui", "store"),
    "aetui.models": ("aetui.experiments", "aetui.worker", "aetui.jobs", "aetui.cli", "aetui.tui", "store"),
    "aetui.data": ("aetui.experiments", "aetui.worker", "aetui.jobs", "aetui.cli", "aetui.tui", "store"),
    "aetui.experiments": ("aetui.worker", "aetui.jobs", "aetui.cli", "aetui.tui"),
    "aetui.worker": ("aetui.jobs", "aetui.cli", "aetui.tui"),
    "aetui.jobs": ("aetui.cli", "aetui.tui"),
    "aetui.report": ("aetui.cli", "aetui.experiments", "aetui.worker", "aetui.tui.screens", "aetui.tui.widgets",
                     "aetui.tui.app"),
    "aetui.tui": ("aetui.cli", "aetui.experiments"),
    # the config is a leaf every layer reads; notifications are sent by the worker and the CLI
    "aetui.config": ("aetui.experiments", "aetui.worker.supervisor", "aetui.jobs", "aetui.cli", "aetui.tui",
                     "aetui.notify", "store.tables", "store.queue"),
    "aetui.notify": ("aetui.experiments", "aetui.worker", "aetui.jobs", "aetui.cli", "aetui.tui"),
}
ALLOWED = {"store": ("aetui.run_layout",)}  # ...but the run folder's layout, a leaf


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_layers_import_only_downwards() -> None:
    graph = import_graph()
    bad = []
    for layer, forbidden in FORBIDDEN.items():
        for module in (m for m in graph if _under(m, layer)):
            for target in graph[module]:
                if any(_under(target, f) for f in forbidden) and not any(
                        _under(target, a) for a in ALLOWED.get(layer, ())):
                    bad.append(f"{module} -> {target}")
    assert not bad, "imports against the layers (docs/architecture.md):\n" + "\n".join(sorted(bad))
    # nothing imports the command line but `python -m aetui`
    assert sorted(m for m in graph if any(_under(t, "aetui.cli") for t in graph[m]) and not _under(m, "aetui.cli")) \
        == ["aetui.__main__"]
