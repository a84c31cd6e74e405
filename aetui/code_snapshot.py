"""Your own code in a run: the model or data file a job names, snapshotted at queue time.

A job may name a Python object of the user's, `./models/my_ae.py:ConvAE` (a file) or
`mypkg.models:ConvAE` (a module on the Python path). At queue time, without importing
anything (`ast` only), :func:`check` says whether the file exists and defines the name;
:func:`take` reads it and the local modules it imports from its own folder, transitively,
into a :class:`Snapshot` (with caps on size and count that warn loudly), and `aetui.jobs`
writes that into the run folder (`RunLayout.code_dir`) with a manifest: the sha256 of the
whole snapshot and of each file, the source folder, and its git commit and dirty flag
when it sits in a git checkout.

At run time :func:`import_object` imports the object from the snapshot, first on
`sys.path`, so editing the files after queueing changes neither a queued run nor its
resume. Its errors are :class:`CodeError`, one line (the traceback goes to the job's
stderr only). Stdlib only: the CLI imports this module at queue time.

A file of the snapshot named like a standard-library or installed module (`json.py`,
`copy.py`, `torch.py`) would, first on `sys.path`, be what every `import json` of the
worker's process gets, and the user's own `import json` could not reach the real one.
Neither side can be right for both, so such a file is refused (:func:`shadowed`): at
queue time by :func:`take`, and again by :func:`import_object` before it touches
`sys.path` (a worker whose environment has a module the queueing one had not).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import re
import site
import subprocess
import sys
import sysconfig
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

from aetui.defaults import LIMITS
from aetui.errors import UserError
from aetui.models.catalog import is_ref

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class CodeError(ValueError):
    """The user's code could not be imported or used at run time; the text is one line."""

    def __init__(self, text: str) -> None:
        super().__init__(" ".join(str(text).split())[:1000])


@dataclass(frozen=True)
class CodeRef:
    """`PATH.py:NAME` (a file) or `package.module:NAME` (a module on the Python path)."""

    target: str
    name: str

    @property
    def is_file(self) -> bool:
        return self.target.endswith(".py") or "/" in self.target

    @property
    def short(self) -> str:
        """How labels show it: the file's name, not its folder."""
        return f"{Path(self.target).name if self.is_file else self.target}:{self.name}"

    def __str__(self) -> str:
        return f"{self.target}:{self.name}"


def parse_ref(text: str, what: str = "model") -> CodeRef:
    """Syntax only (no file system): `PATH.py:NAME` or `package.module:NAME`. A file path
    is made absolute against the current folder, so the spec names one file wherever it is read."""
    target, sep, name = str(text).strip().rpartition(":")
    target = target.strip()
    if not sep or not target or not _IDENT.fullmatch(name.strip()):
        raise UserError(f"{what} {str(text).strip()[:80]!r}: write PATH.py:NAME or package.module:NAME")
    name = name.strip()
    ref = CodeRef(target, name)
    if ref.is_file:
        if not target.endswith(".py"):
            raise UserError(f"{what} {text!r}: {target} is not a .py file")
        if len(target) > LIMITS["path_chars"]:
            raise UserError(f"{what}: path too long ({len(target)} characters)")
        return CodeRef(str(Path(target).expanduser().absolute()), name)
    if not _MODULE.fullmatch(target):
        raise UserError(f"{what} {text!r}: {target!r} is neither a .py file nor a dotted module name")
    return ref


# ------------------------------------------------------------------ queue time: find and read

def _module_file(root: Path, dotted: str) -> Path | None:
    """`a.b` under `root`: a/b.py or a/b/__init__.py, if either is a file."""
    base = root.joinpath(*dotted.split("."))
    for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
        try:
            if candidate.is_file():
                return candidate
        except OSError:
            continue
    return None


def _installed_dirs() -> list[str]:
    """Where installed modules live: site-packages (the environment's and the user's)."""
    found = [sysconfig.get_paths().get(k) for k in ("purelib", "platlib")]
    found += [*site.getsitepackages(), site.getusersitepackages()] if hasattr(site, "getsitepackages") else []
    return list(dict.fromkeys(d for d in found if d and Path(d).is_dir()))


@lru_cache(maxsize=1)
def _aetui_packages() -> frozenset[str]:
    """aetui's own top-level packages (`aetui`, `store`), wherever it is installed from
    (an editable install or a checkout on sys.path is not in site-packages)."""
    names = {__name__.partition(".")[0]}
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        names.update((distribution(__name__.partition(".")[0]).read_text("top_level.txt") or "").split())
    except (ImportError, PackageNotFoundError, OSError):
        pass
    return frozenset(names)


def shadowed(top: str, root: Path | None = None, exempt: str | None = None) -> str | None:
    """What a user's top-level module `top` would hide with its folder first on `sys.path`:
    "the standard library module json", "aetui's own package store", "the installed module
    torch (its path)", or None.

    Installed means found in site-packages (other than `root`, the user's own folder) or by
    an import hook such as an editable install's; a folder on `sys.path` that is neither
    (the current folder, PYTHONPATH) is the user's own business. `exempt` is a package the
    user named as `package.module:NAME`: its snapshot is meant to win. Nothing is imported."""
    if top in sys.stdlib_module_names:
        return f"the standard library module {top}"
    if top in _aetui_packages():
        return f"aetui's own package {top}"
    if top == exempt:
        return None
    from importlib.machinery import BuiltinImporter, FrozenImporter, PathFinder

    own = str(Path(root).resolve()) if root is not None else None
    places = [d for d in _installed_dirs() if own is None or str(Path(d).resolve()) != own]
    spec = PathFinder.find_spec(top, places)
    for finder in sys.meta_path:  # import hooks: editable installs and the like
        if spec is not None:
            break
        if finder in (BuiltinImporter, FrozenImporter, PathFinder) or not hasattr(finder, "find_spec"):
            continue
        try:
            spec = finder.find_spec(top, None)
        except Exception:  # a third-party hook that cannot answer: it has no such module for us
            spec = None
    origin = getattr(spec, "origin", None) if spec is not None else None
    if not origin or origin in ("built-in", "frozen", "namespace"):
        return None  # a namespace package is any folder of that name: Python prefers a real module
    found = str(Path(origin).resolve())
    installed = {str(Path(d).resolve()) for d in _installed_dirs()}
    plain = {str(Path(p or ".").resolve()) for p in sys.path} - installed  # the current folder, PYTHONPATH

    def under(folders) -> bool:
        return any(found.startswith(folder.rstrip("/") + "/") for folder in folders)

    if own and under([own]):
        return None  # a hook that searches sys.path as well (pytest's) found the user's own folder
    # site-packages first: a virtual environment often lives inside a folder on sys.path
    # (`.venv` in the project's checkout, which is the current folder)
    if not under(installed) and under(plain):
        return None
    return f"the installed module {top} ({origin})"


def locate(ref: CodeRef, what: str = "model") -> tuple[Path, Path, str]:
    """(entry file, root folder, module name) of a reference; UserError if there is none.

    A file's root is its own folder and its module is its stem; a module is looked for
    on the Python path (the current folder first), without importing it or its package."""
    if ref.is_file:
        path = Path(ref.target)
        if not path.is_file():
            raise UserError(f"{what} file {path} does not exist")
        return path.resolve(), path.resolve().parent, path.stem
    for base in ["", *sys.path]:
        root = Path(base or ".").resolve()
        found = _module_file(root, ref.target)
        if found is not None:
            return found.resolve(), root, ref.target
    raise UserError(f"{what} module {ref.target!r} is not on the Python path (looked in the current "
                    f"folder and sys.path; nothing was imported)")


def _parse(path: Path, what: str) -> ast.Module:
    try:
        return ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as e:
        raise UserError(f"{what} file {path}: line {e.lineno}: {e.msg}") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{what} file {path} cannot be read: {e}") from None


def _defined(body: list[ast.stmt]) -> set[str]:
    """Top-level names a module body binds (also inside top-level if/try blocks)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
        elif isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, (ast.If, ast.Try)):
            for block in (node.body, getattr(node, "orelse", []), getattr(node, "finalbody", []),
                          *(h.body for h in getattr(node, "handlers", []))):
                names |= _defined(block)
    return names


def check(ref: CodeRef, what: str = "model") -> Path:
    """The entry file, once it is known to exist, parse and define the name (read, not
    imported); UserError (one line) otherwise."""
    path, _root, _module = locate(ref, what)
    if ref.name not in _defined(_parse(path, what).body):
        raise UserError(f"{what} file {path} defines no {ref.name!r} at its top level")
    return path


def _imported(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """Dotted names a module imports (relative ones resolved against its package)."""
    package = module if is_package else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                if node.level - 1 > len(parts):
                    continue
                base = ".".join(parts[:len(parts) - (node.level - 1)])
                head = ".".join(p for p in (base, node.module or "") if p)
            else:
                head = node.module or ""
            if head:
                out.append(head)
            out += [f"{head}.{a.name}" if head else a.name for a in node.names if a.name != "*"]
    return out


@dataclass
class Snapshot:
    """The files of one reference, read at queue time: what `write` puts in a run folder."""

    ref: CodeRef
    role: str  # "model" or "data": the folder under the run's code/
    source: Path  # the root folder the files were read from
    module: str  # what to import
    entry: str  # the entry file, relative to `source`
    files: dict[str, bytes] = field(default_factory=dict)  # relative posix path -> content
    git: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        """One hash of the whole snapshot: every file's path and content."""
        h = hashlib.sha256()
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + hashlib.sha256(self.files[name]).hexdigest().encode() + b"\n")
        return h.hexdigest()

    def manifest(self) -> dict[str, Any]:
        return {"ref": str(self.ref), "name": self.ref.name, "module": self.module, "entry": self.entry,
                "sha256": self.sha256, "source": str(self.source), "git": self.git,
                "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(self.files.items())}}

    def write(self, folder: Path, manifest_path: Path) -> None:
        """The files under `folder` and the manifest beside it."""
        for name, data in self.files.items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        manifest_path.write_text(json.dumps(self.manifest(), indent=1) + "\n")


def _git(folder: Path) -> dict[str, Any] | None:
    """The commit of the checkout `folder` lies in, and whether its tree was dirty."""
    def run(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if not commit:
        return None
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit.strip(), "dirty": bool(status and status.strip())}


def take(ref: CodeRef, role: str, what: str | None = None) -> Snapshot:
    """Read the entry file and the local modules it imports, transitively (ast), from its
    root folder: at most LIMITS["snapshot_files"] files of LIMITS["snapshot_file_bytes"]
    each; what is left out is named in `warnings`. UserError if the entry itself fails
    `check` or is over the size cap."""
    what = what or role
    entry = check(ref, what)
    _path, root, module = locate(ref, what)
    cap_files, cap_bytes = LIMITS["snapshot_files"], LIMITS["snapshot_file_bytes"]
    snap = Snapshot(ref=ref, role=role, source=root, module=module, entry=entry.relative_to(root).as_posix(),
                    git=_git(root))
    # a module inside packages needs their __init__ files to import from the snapshot
    todo: list[tuple[Path, str]] = [(entry, module)]
    parts = module.split(".")
    for i in range(1, len(parts)):
        init = _module_file(root, ".".join(parts[:i]))
        if init is not None and init.name == "__init__.py":
            todo.append((init, ".".join(parts[:i])))
    seen: set[Path] = set()
    over: list[str] = []
    exempt = None if ref.is_file else module.split(".")[0]  # the package the user named
    # a package installed in site-packages: its neighbours there are other libraries (torch,
    # numpy), not the user's own modules; only the package itself is followed
    installed_root = str(root.resolve()) in {str(Path(d).resolve()) for d in _installed_dirs()}
    while todo:
        path, name = todo.pop(0)
        if path in seen:
            continue
        seen.add(path)
        rel = path.relative_to(root).as_posix()
        size = path.stat().st_size
        if size > cap_bytes:
            if path == entry:
                raise UserError(f"{what} file {path} is {size} bytes; a snapshot takes files of at most {cap_bytes}")
            snap.warnings.append(f"left out {rel} ({size} bytes, over the {cap_bytes}-byte cap): "
                                 f"the run will import whatever {name} is installed at run time")
            continue
        if len(snap.files) >= cap_files:
            over.append(rel)  # its own imports are not followed
            continue
        clash = shadowed(name.split(".")[0], root, exempt)
        if clash is not None:
            raise UserError(f"{what} file {path} shadows {clash}; rename it")
        data = path.read_bytes()
        snap.files[rel] = data
        try:
            tree = ast.parse(data, filename=str(path))
        except SyntaxError:
            snap.warnings.append(f"{rel} does not parse; its imports were not followed")
            continue
        for dotted in _imported(tree, name, path.name == "__init__.py"):
            bits = dotted.split(".")
            for i in range(1, len(bits) + 1):  # the package's __init__ files on the way down, then the module
                sub = ".".join(bits[:i])
                if installed_root and bits[0] != exempt:
                    break
                found = _module_file(root, sub)
                if found is not None and found.resolve() not in seen:
                    todo.append((found.resolve(), sub))
    if over:
        names = ", ".join(over[:5]) + (", ..." if len(over) > 5 else "")
        snap.warnings.append(f"left out {len(over)} local module(s) over the cap of {cap_files} files ({names}): "
                             f"the run will import whatever is installed under those names at run time")
    return snap


# ------------------------------------------------------------------ run time: import

def read_manifest(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise CodeError(f"no snapshot of the code at {path}: {e}") from None


def _module_names(files: dict[str, Any]) -> set[str]:
    out = set()
    for name in files:
        stem = name[:-3] if name.endswith(".py") else name
        parts = stem.split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return out


def import_object(folder: Path, manifest: dict[str, Any], what: str = "model") -> Any:
    """The object a snapshot's manifest names, imported from `folder` (first on sys.path);
    CodeError (one line) when the import fails or the name is missing."""
    label = CodeRef(str(manifest.get("ref", "?")).rpartition(":")[0], str(manifest.get("name"))).short
    if not Path(folder).is_dir():
        raise CodeError(f"{what} {label}: its snapshot {folder} is missing")
    files = manifest.get("files", {})
    exempt = None if CodeRef(str(manifest.get("ref", "")).rpartition(":")[0], "x").is_file \
        else str(manifest.get("module", "")).split(".")[0]
    for name in sorted(files):  # queued before this was checked, or installed only where the job runs
        clash = shadowed(name.split("/")[0].removesuffix(".py"), exempt=exempt)
        if clash is not None:
            raise CodeError(f"{what} {label}: {name} in its snapshot shadows {clash}; rename it")
    where = str(Path(folder).resolve())
    if where in sys.path:
        sys.path.remove(where)
    sys.path.insert(0, where)
    for name in _module_names(files):  # another snapshot's modules of the same names
        sys.modules.pop(name, None)
    importlib.invalidate_caches()
    try:
        module = importlib.import_module(manifest["module"])
    except Exception as e:
        raise CodeError(f"{what} {label}: importing {manifest.get('module')} failed: {type(e).__name__}: {e}") from e
    obj = getattr(module, str(manifest.get("name")), None)
    if obj is None:
        raise CodeError(f"{what} {label}: {manifest.get('module')} defines no {manifest.get('name')!r}")
    return obj


def call(fn: Callable[..., Any], label: str, *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)`, any error as one CodeError line naming `label`."""
    try:
        return fn(*args, **kwargs)
    except Exception as e:
        raise CodeError(f"{label} failed: {type(e).__name__}: {e}") from e


# ------------------------------------------------------------------ outside checkpoints

def find_snapshot(runs_root: Path, role: str, sha256: str) -> Snapshot | None:
    """A snapshot under `runs_root` whose sha256 is this one (its files re-read and
    re-hashed), or None: how an outside checkpoint of your own model finds its code."""
    from aetui.run_layout import RunLayout

    try:
        folders = sorted(Path(runs_root).iterdir())
    except OSError:
        return None
    for folder in folders:
        layout = RunLayout.at(folder)
        try:
            manifest = json.loads(layout.code_manifest(role).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict) or manifest.get("sha256") != sha256:
            continue
        snap = _reread(layout.code_dir(role), manifest, role)
        if snap is not None and snap.sha256 == sha256:
            return snap
    return None


def _reread(folder: Path, manifest: dict[str, Any], role: str) -> Snapshot | None:
    try:
        files = {name: (Path(folder) / name).read_bytes() for name in manifest.get("files", {})}
        ref = CodeRef(str(manifest["ref"]).rpartition(":")[0], str(manifest["name"]))
        return Snapshot(ref=ref, role=role, source=Path(str(manifest.get("source", folder))),
                        module=str(manifest["module"]), entry=str(manifest.get("entry", "")), files=files,
                        git=manifest.get("git"))
    except (OSError, KeyError, TypeError):
        return None
