"""Every verb driven with generated arguments: no traceback, and nothing written on refusal.

Hypothesis (derandomized, a bounded number of examples) builds command lines from each
verb's own parameters as the Typer app declares them, so a new option is fuzzed without
touching this file. Values mix valid ones with huge numbers, nan, empty strings, odd and
overlong paths, NUL and unicode. Each example runs in a fresh copy of a home with a few
jobs, in this process (Typer's runner). It fails on exit code 70 (a bug's exit), an
uncaught exception, a traceback on stderr, or, on exit code 2, any file of the sandbox
(the home, the files around it, the current folder) that changed.

The verbs that block on valid input (the dashboard, `worker`, `tb`, `demo`) get at least one
invalid argument that must stop them before they start.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import aetui

BLOCKING = ("worker", "tb", "demo")
HIDDEN = ("worker-detached",)

# values a user might type, or mistype; paths are relative to the sandbox (the current folder)
VALUES = [
    "", " ", "0", "1", "2", "3", "-1", "64", "32", "9" * 25, str(2**63), "-" + "9" * 25, "99999999999",
    "nan", "inf", "-inf", "1e309", "1e-4", "0.5", "1,2", ",", "1e-4,nan", "0:1:100000000", "0.1:0.9:5",
    "abc", "é", "中文", "\x00", "a\x00b", "🙂" * 3, "--", "-", "x" * 5000, "/tmp/" + "y" * 300,
    "/proc/self", "/etc/passwd", "afile", "afile/sub", "newhome", "home", ".", "~",
    "unet", "mlp", "attn-unet", "train", "sweep", "queued", "done", "bogus",
    "builtin", "builtin:8", "builtin:0", "builtin:99999999999999", "cifar10", "folder:.", "folder:" + "x" * 5000,
    "npy:good.npy", "npy:float.npy", "npy:afile", "mix", "mix:0.3", "gauss:mu=1", "linear:100", "linear:0",
    "cpu", "auto", "cuda:7", "localhost", "999.999.999.999", "::1", "output", "bottleneck", "latent",
]
INVALID_HOMES = ["", "afile", "afile/sub", "/proc/self", "x" * 5000, "/tmp/" + "y" * 300, "a\x00b"]
VALUE = st.one_of(st.sampled_from(VALUES), st.text(max_size=12),
                  st.integers(-(10**30), 10**30).map(str), st.floats().map(repr))
# typed values: mostly ones the option's type reads (else click refuses them before the verb
# runs, a shallow test), now and then anything at all


def _mostly(typed, rarely=VALUE, one_in: int = 12):
    # the rare branch on the largest draw: Hypothesis favours small numbers
    return st.integers(0, one_in - 1).flatmap(lambda i: rarely if i == one_in - 1 else typed)


INTEGER = _mostly(st.one_of(st.sampled_from(["0", "1", "2", "3", "4", "8", "16", "32", "64", "-1"]),
                            st.sampled_from(["9" * 25, str(2**63), "-" + "9" * 25, "99999999999", "65536"]),
                            st.integers(-(10**25), 10**25).map(str)))
FLOAT = _mostly(st.one_of(st.sampled_from(["0", "0.1", "0.5", "1", "2", "1e-4", "-1"]),
                          st.sampled_from(["nan", "inf", "-inf", "1e309", "1e-400", "-0.0"]),
                          st.floats().map(repr)))
HOME = st.sampled_from(["home", "home", "home", "newhome", *INVALID_HOMES])
ARGUMENTS = {  # a verb's positional arguments by name
    "model": _mostly(st.sampled_from(["unet", "mlp", "attn-unet"])),
    "job_id": _mostly(st.sampled_from(["1", "2", "3", "4"]), INTEGER, one_in=3),
    "target": _mostly(st.sampled_from(["1", "2", "3", "4", "afile", "good.npy"]), INTEGER, one_in=3),
    "value": INTEGER,
}
# what stops each blocking verb before it starts; it comes last, so it wins over a generated one
STOPPERS = {
    "worker": [["--poll", v] for v in ("nan", "-1", "0", "inf", "1e309")] + [["--home", h] for h in INVALID_HOMES],
    "tb": [["--port", v] for v in ("-1", "0", "99999", "9" * 25)] + [["--host", v] for v in ("999.999.999.999", "a b", "")]
          + [["--home", h] for h in INVALID_HOMES],
    "demo": [["--home", h] for h in INVALID_HOMES],
    "wait": [["--timeout", v] for v in ("nan", "-1", "inf", "0")],  # 0: one look, then exit 1
    "log": [["--no-follow"]] * 3 + [["--home", h] for h in INVALID_HOMES],  # -f on a queued job follows for ever
}


def _commands():
    """(verb path, click command) for every verb the app has, `db` subcommands included."""
    from aetui.cli.verbs import all_commands

    out = []
    for name, cmd in all_commands().items():
        if name in HIDDEN:
            continue
        if hasattr(cmd, "commands"):
            out += [((name, sub_name), sub) for sub_name, sub in cmd.commands.items()]
        else:
            out.append(((name,), cmd))
    return out


COMMANDS = dict(_commands())


@st.composite
def command_line(draw, verb: tuple[str, ...]) -> list[str]:
    cmd = COMMANDS[verb]
    args: list[str] = []
    if draw(st.booleans()):  # the home before the verb
        args += ["--home", draw(HOME)]
    args += list(verb)
    for param in cmd.params:
        if param.param_type_name == "argument":
            if draw(st.integers(0, 9)) < 9:  # now and then one is missing: a usage error
                args.append(draw(ARGUMENTS.get(param.name, VALUE)))
            continue
        if not param.required and draw(st.integers(0, 4)):  # a fifth of the options, and the required ones
            continue
        flag = draw(st.sampled_from(param.opts + list(getattr(param, "secondary_opts", []))))
        args.append(flag)
        if not param.is_flag:
            args.append(draw(_values_for(param)))
    if verb[0] in STOPPERS:
        args += draw(st.sampled_from(STOPPERS[verb[0]]))
    return args


def _values_for(param):
    """Values of an option's type: int, float, or text (which may be a number: a grid axis)."""
    descriptor = getattr(param, "type_descriptor", None)  # Typer's own parameters
    kind = getattr(descriptor, "annotation", None) or getattr(getattr(param, "type", None), "name", None)
    if param.name == "home":
        return HOME
    if kind in (int, "integer"):
        return INTEGER
    if kind in (float, "float"):
        return FLOAT
    return st.one_of(VALUE, INTEGER, FLOAT)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A sandbox: a home with a few jobs (queued, cancelled, a grid), a file, npy files."""
    root = tmp_path_factory.mktemp("fuzz-template")
    home = root / "home"
    aetui(home, "queue", "unet", "--res", "64")
    aetui(home, "queue", "mlp", "--res", "32", "--lr", "1e-4,3e-4")
    aetui(home, "cancel", "2")
    (root / "afile").write_text("a file where a folder is expected\n")
    np.save(root / "good.npy", np.zeros((4, 16, 16, 3), np.uint8))
    np.save(root / "float.npy", np.zeros((4, 16, 16, 3), np.float32))
    gc.collect()  # the engines' connections closed: no journal files in the copy
    yield root
    gc.unfreeze()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def settle() -> None:
    """Engines left open are collected now (their journals go), not between snapshots; the
    survivors are frozen so the next collection is quick."""
    gc.collect()
    gc.freeze()


def check(template: Path, args: list[str]) -> None:
    sandbox = Path(tempfile.mkdtemp(prefix="fuzz-"))
    try:
        shutil.copytree(template, sandbox, dirs_exist_ok=True)
        settle()
        before = snapshot(sandbox)
        with contextlib.chdir(sandbox):
            code, stderr, error = _invoke(sandbox / "home", args)
        settle()
        shown = f"aetui {' '.join(repr(a) if not a or ' ' in a else a[:60] for a in args)}"
        assert error is None, (shown, error)
        assert code in (0, 1, 2), (shown, code, stderr[-2000:])
        assert "Traceback" not in stderr, (shown, stderr[-2000:])
        if code == 2:
            after = snapshot(sandbox)
            changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            assert not changed, (shown, stderr, changed)
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def _invoke(home: Path, args: list[str]) -> tuple[int, str, str | None]:
    """Exit code, stderr and the traceback of an uncaught exception (None: there was none).
    The result object is dropped here: its exception's frames would keep the command's
    store open, and its journal files with it."""
    import traceback

    from typer.testing import CliRunner

    from aetui.cli import app

    env = {k: None for k in os.environ if k.startswith("AETUI_")}
    env["AETUI_HOME"] = str(home)
    result = CliRunner().invoke(app, args, env=env, catch_exceptions=True)
    error = result.exception
    uncaught = None if error is None or isinstance(error, SystemExit) else "".join(traceback.format_exception(error))
    return result.exit_code, result.stderr, uncaught


# examples per verb: about 30 s on 2 cores for the lot; AETUI_FUZZ_EXAMPLES=500 for a long hunt
EXAMPLES = int(os.environ.get("AETUI_FUZZ_EXAMPLES", "10"))
FUZZ = settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@pytest.mark.parametrize("verb", sorted(COMMANDS), ids=" ".join)
def test_fuzz_every_verb(template, verb):
    @FUZZ
    @given(args=command_line(verb))
    def run(args):
        check(template, args)

    run()


@FUZZ
@given(home=st.sampled_from(INVALID_HOMES), graphics=st.one_of(st.none(), VALUE))
def test_fuzz_the_dashboard_with_a_bad_home(template, home, graphics):
    args = ["--home", home] + ([] if graphics is None else ["--graphics", graphics])
    check(template, args)
