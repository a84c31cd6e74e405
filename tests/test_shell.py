"""Shell completion through Click's protocol (the real CLI in a subprocess, as a shell's TAB
runs it), the installed scripts, and the systemd unit of `aetui worker --install-service`."""

from __future__ import annotations

import configparser
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, aetui, cli_env


@pytest.fixture(scope="module")
def store_home(tmp_path_factory) -> Path:
    """A store with a finished training run (1), a queued job (2), a cancelled one (3), a
    running one (4) and a finished noop (5)."""
    from aetui.home import Home
    from store import queue
    from store.states import JobStatus

    home = Home.resolve(tmp_path_factory.mktemp("shell") / "home")
    rows = [{"kind": kind, "spec": {"model": "unet", "res": 32}, "label": label, "total_steps": 10}
            for kind, label in (("train", "unet res32 lr=2e-3"), ("train", "mlp res32"), ("train", "unet wide"),
                                ("train", "attn-unet res64"), ("noop", "noop a"))]
    queue.enqueue_many(home.db, rows, run_root=str(home.runs))
    for job_id, status in ((1, JobStatus.DONE), (5, JobStatus.DONE), (4, None)):
        queue.claim(home.db, worker="h:1", host="h", pid=1, device="cpu", job_id=job_id)
        if status:
            queue.finish(home.db, job_id=job_id, worker="h:1", status=status)
    queue.cancel(home.db, job_id=3)
    return home.path


BASH_WORDBREAKS = " \t\n\"'><=;|&(:"  # bash's default COMP_WORDBREAKS


def _variables(shell: str, line: str) -> dict[str, str]:
    """The environment a shell's script gives `aetui` for a TAB at the end of `line` (bash's
    words as Click's protocol has them, and the line, as the script passes it too)."""
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    if shell == "fish":
        return {"_AETUI_COMPLETE": "fish_complete", "COMP_WORDS": line, "COMP_CWORD": words[-1]}
    extra = {"COMP_LINE": line, "COMP_WORDBREAKS": BASH_WORDBREAKS} if shell == "bash" else {}
    return {"_AETUI_COMPLETE": f"{shell}_complete", "COMP_WORDS": " ".join(words), "COMP_CWORD": str(len(words) - 1),
            **extra}


# the console script's own lines, and a report of the heavy modules the run imported
CONSOLE_SCRIPT = """import atexit, sys
atexit.register(lambda: sys.stderr.write(" ".join(m for m in ("pydantic", "sqlalchemy", "sqlmodel", "torch")
                                                  if m in sys.modules)))
sys.argv[0] = "aetui"
from aetui.cli import main
sys.exit(main())
"""


def complete_proc(home: Path, shell: str, line: str) -> list[str]:
    """What the real `aetui`, started as the shell starts it, answers. A TAB must stay
    light: no pydantic, SQLAlchemy or torch (they would cost it most of a second)."""
    proc = subprocess.run([sys.executable, "-c", CONSOLE_SCRIPT], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, env={**cli_env(home), **_variables(shell, line)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == "", f"a TAB imported {proc.stderr}"
    return proc.stdout.splitlines()


@pytest.fixture
def complete(monkeypatch, capsys):
    """The same answer from the same entry point, in this process (a subprocess costs ~0.5 s):
    `aetui.cli.main` with the protocol's variables set."""
    from aetui.cli import main

    def run(home: Path, shell: str, line: str) -> list[str]:
        for name in [k for k in os.environ if k.startswith("AETUI_") or k in ("COMP_LINE", "COMP_WORDBREAKS")]:
            monkeypatch.delenv(name)
        for name, value in {"AETUI_HOME": str(home), **_variables(shell, line)}.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        with pytest.raises(SystemExit) as end:
            main()
        out = capsys.readouterr()
        assert end.value.code == 0 and not out.err, out.err
        return out.out.splitlines()

    return run


def test_verbs_and_options_complete(tmp_path, complete):
    home = tmp_path / "nohome"
    verbs = complete_proc(home, "zsh", "aetui ")
    names = verbs[1::3]
    assert {"queue", "runs", "show", "cancel", "worker", "sweep", "completion"} <= set(names)
    assert "worker-detached" not in names  # hidden
    assert verbs[0::3] == ["plain"] * len(names) and "Cancel a queued job" in verbs[3 * names.index("cancel") + 2]
    assert complete(home, "bash", "aetui sh") == ["plain,show"]  # one value: alone, as it is inserted
    assert complete(home, "bash", "aetui worker --inst") == ["plain,--install-service"]
    assert not home.exists()  # completing created no home


def test_model_and_corruption_names_complete(tmp_path, complete):
    home = tmp_path / "nohome"
    assert [line.split(",")[1].split()[0] for line in complete(home, "bash", "aetui queue ")] == \
        ["mlp", "unet", "attn-unet"]
    assert complete(home, "fish", "aetui sweep 3 --noise sa") == \
        ["plain,saltpepper\ta fraction p of pixels set to 0 or 1 (half each), all channels"]
    assert complete(home, "bash", "aetui queue unet --res 32 --train-noise bl") == ["plain,blur"]


def test_your_own_model_completes_as_a_path_then_with_what_the_file_defines(tmp_path, monkeypatch, complete):
    """`aetui queue ./models/my_ae.py:<TAB>` offers ConvAE: folders and .py files while the
    word is a path, then the file's top-level classes and functions, read with ast (the
    file below would fail if imported), and the TAB stays torch-free."""
    home = tmp_path / "nohome"
    models = tmp_path / "models"
    (models / "parts").mkdir(parents=True)
    (models / "my_ae.py").write_text("raise SystemExit('imported')\n\nclass ConvAE:\n    \"\"\"A small conv AE.\"\"\"\n\n"
                                     "def plain(res):\n    pass\n\ndef _private():\n    pass\n\nX = 1\n")
    (models / "notes.txt").write_text("")
    (models / "other.py").write_text("def build(res):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    zsh = complete(home, "zsh", "aetui queue ./models/")
    assert list(zip(zsh[1::3], zsh[2::3])) == [("./models/my_ae.py", "_"), ("./models/other.py", "_"),
                                               ("./models/parts/", "folder")]
    assert complete(home, "fish", "aetui queue ./models/my_ae.py:") == [
        "plain,./models/my_ae.py:ConvAE\tA small conv AE.", "plain,./models/my_ae.py:plain\tfunction"]
    assert complete(home, "fish", "aetui queue models/ot") == ["plain,models/other.py:build\tfunction"]  # the one file
    assert complete(home, "fish", "aetui probe ./final.pt --model models/ot") == ["plain,models/other.py:build\tfunction"]
    # bash inserts after the last `:` of its word: the values say only what comes after it
    assert complete(home, "bash", "aetui queue ./models/my_ae.py:C") == ["plain,ConvAE"]
    assert complete(home, "bash", "aetui queue ./models/my_ae.py:_") == ["plain,_private"]
    assert complete(home, "bash", "aetui queue ./models/p") == ["plain,./models/parts/"]
    assert complete(home, "bash", "aetui queue un") == ["plain,unet"]  # not a path: the built-in models
    fish = complete_proc(home, "fish", f"aetui queue {models}/my_ae.py:Co")  # asserts no torch, pydantic, SQLAlchemy
    assert fish == [f"plain,{models}/my_ae.py:ConvAE\tA small conv AE."]
    assert not home.exists()


def test_job_ids_complete_with_their_labels(store_home, complete):
    zsh = complete_proc(store_home, "zsh", "aetui show ")
    assert list(zip(zsh[1::3], zsh[2::3])) == [
        ("5", "noop a · done"), ("4", "attn-unet res64 · running"), ("3", "unet wide · cancelled"),
        ("2", "mlp res32 · queued"), ("1", "unet res32 lr=2e-3 · done")]
    # bash lists several values with their labels in one column
    assert complete(store_home, "bash", "aetui retry ")[-1] == "plain,1  unet res32 lr=2e-3 · done"
    # cancel: only what is still queued or running; experiments: only finished training runs
    assert [line.split(",")[1].split()[0] for line in complete(store_home, "bash", "aetui cancel ")] == ["4", "2"]
    assert complete(store_home, "bash", "aetui wait 4 2") == ["plain,2"]  # wait: several ids, each still active
    assert complete(store_home, "bash", "aetui log 5") == ["plain,5"]
    assert complete(store_home, "bash", "aetui report 1 3") == ["plain,3"]  # report: several ids, any status
    assert complete(store_home, "fish", "aetui sweep ") == ["plain,1\tunet res32 lr=2e-3 · done"]
    assert complete(store_home, "fish", "aetui walk ./run") == []  # a checkpoint path: the shell lists files


def test_job_ids_come_from_the_home_on_the_command_line(store_home, tmp_path, complete):
    other = tmp_path / "other"
    assert complete(other, "bash", "aetui show ") == []  # $AETUI_HOME has no store: nothing offered
    assert not other.exists()
    assert complete(other, "bash", f"aetui --home {store_home} queue unet --res 32 --after 2") == ["plain,2"]


def test_completion_scripts_are_static_and_speak_the_protocol(tmp_path):
    scripts = {shell: aetui(tmp_path, "completion", shell).stdout for shell in ("bash", "zsh", "fish")}
    for shell, text in scripts.items():
        assert f"_AETUI_COMPLETE={shell}_complete" in text and "aetui" in text
        assert "eval $(" not in text and "_source" not in text  # installed once, nothing run at shell start
    assert scripts["zsh"].startswith("#compdef aetui")
    bad = aetui(tmp_path, "completion", "tcsh", check=False)
    assert bad.returncode == 2 and "unknown shell 'tcsh'" in bad.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_bash_completes_through_the_installed_script(store_home, tmp_path):
    """bash sources the script and presses TAB: COMPREPLY holds what aetui answered."""
    script = tmp_path / "aetui.bash"
    script.write_text(aetui(tmp_path, "completion", "bash").stdout)
    press_tab = (f"source {shlex.quote(str(script))}; complete -p aetui; COMP_WORDS=(aetui cancel ''); COMP_CWORD=2; "
                 "COMPREPLY=(); _aetui_completion aetui cancel ''; printf '%s\\n' \"${COMPREPLY[@]}\"")
    env = {**cli_env(store_home), "PATH": f"{_aetui_on_path(tmp_path)}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "--norc", "-c", press_tab], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("complete ") and "-F _aetui_completion" in lines[0]
    assert lines[1:] == ["4  attn-unet res64 · running", "2  mlp res32 · queued"]


def _aetui_on_path(tmp_path: Path) -> str:
    """A folder holding `aetui` that runs this checkout (as the installed console script would)."""
    shim = tmp_path / "bin" / "aetui"
    shim.parent.mkdir(exist_ok=True)
    shim.write_text(f"#!/bin/sh\ncd {shlex.quote(str(ROOT))} && exec {shlex.quote(sys.executable)} -m aetui \"$@\"\n")
    shim.chmod(0o755)
    return str(shim.parent)


@pytest.mark.skipif(shutil.which("fish") is None, reason="no fish here (docs/shell.md)")
def test_fish_completes_through_the_installed_script(store_home, tmp_path):
    """fish loads the script and lists what a TAB would offer (`complete -C`): ids and labels."""
    script = tmp_path / "aetui.fish"
    script.write_text(aetui(tmp_path, "completion", "fish").stdout)
    env = {**cli_env(store_home), "PATH": f"{_aetui_on_path(tmp_path)}:{os.environ['PATH']}"}

    def tab(line: str) -> list[str]:
        proc = subprocess.run(["fish", "--no-config", "-c", f"source {shlex.quote(str(script))}; complete -C {shlex.quote(line)}"],
                              capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    # fish sorts what it offers
    assert tab("aetui cancel ") == ["2\tmlp res32 · queued", "4\tattn-unet res64 · running"]
    assert tab("aetui que") == ["queue\tQueue a training job (a grid when an option has a list)."]


@pytest.mark.skipif(shutil.which("zsh") is None, reason="no zsh here (docs/shell.md)")
def test_zsh_completes_through_the_installed_script(store_home, tmp_path):
    """An interactive zsh on a pseudo-terminal, with the script in its `fpath` and
    `compinit` run as a user's .zshrc does: TAB after `aetui cancel ` lists ids and labels."""
    import pty
    import select
    import time

    folder = tmp_path / "zfunc"
    folder.mkdir()
    (folder / "_aetui").write_text(aetui(tmp_path, "completion", "zsh").stdout)
    env = {**cli_env(store_home), "PATH": f"{_aetui_on_path(tmp_path)}:{os.environ['PATH']}", "TERM": "xterm",
           "PS1": "> ", "HOME": str(tmp_path)}
    pid, fd = pty.fork()
    if pid == 0:  # the child: zsh, without any rc file
        os.execvpe("zsh", ["zsh", "-f", "-i"], env)
    seen = b""

    def wait_for(text: str, timeout: float = 60.0) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while text.encode() not in seen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
        assert text.encode() in seen, seen.decode(errors="replace")[-2000:]

    try:
        os.write(fd, f"fpath=({shlex.quote(str(folder))} $fpath); autoload -U compinit; compinit -u; "
                     "echo READY\n".encode())
        wait_for("READY\r\n")
        os.write(fd, b"aetui cancel \t")
        wait_for("mlp res32 · queued")
        wait_for("attn-unet res64 · running")
        assert b"unet wide" not in seen and b"noop a" not in seen  # cancelled and done: not offered
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_accepts_the_unit(tmp_path, monkeypatch):
    """systemd's own checker reads the unit without a warning (it fails on a command that is
    not executable, and warns on a key or value it does not know)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    aetui(tmp_path / "my%home", "worker", "--install-service", "--devices", "cpu", "--grace", "7")
    (path,) = (tmp_path / "config" / "systemd" / "user").glob("*.service")
    proc = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here")
def test_bash_completes_your_model_after_the_colon_it_splits_at(tmp_path):
    """bash splits `my_ae.py:` into `my_ae.py` and `:` (COMP_WORDBREAKS); the script passes
    the line too, and what comes back is what bash inserts after the colon."""
    script = tmp_path / "aetui.bash"
    script.write_text(aetui(tmp_path, "completion", "bash").stdout)
    shim = tmp_path / "bin" / "aetui"
    shim.parent.mkdir()
    shim.write_text(f"#!/bin/sh\nexport PYTHONPATH={shlex.quote(str(ROOT))}\nexec {shlex.quote(sys.executable)} -m aetui \"$@\"\n")
    shim.chmod(0o755)
    (tmp_path / "models").mkdir()
    shutil.copy(ROOT / "examples" / "my_ae.py", tmp_path / "models" / "my_ae.py")
    press_tab = (f"source {shlex.quote(str(script))}; cd {shlex.quote(str(tmp_path))}; "
                 "COMP_LINE='aetui queue ./models/my_ae.py:'; COMP_POINT=${#COMP_LINE}; "
                 "COMP_WORDS=(aetui queue ./models/my_ae.py :); COMP_CWORD=3; COMPREPLY=(); "
                 "_aetui_completion aetui; printf '%s\\n' \"${COMPREPLY[@]}\"; "
                 "COMP_LINE='aetui queue ./mo'; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(aetui queue ./mo); COMP_CWORD=2; "
                 "COMPREPLY=(); _aetui_completion aetui; printf '%s\\n' \"${COMPREPLY[@]}\"")
    proc = subprocess.run(["bash", "--norc", "-c", press_tab], capture_output=True, text=True,
                          env={**cli_env(tmp_path / "nohome"), "PATH": f"{shim.parent}:{os.environ['PATH']}"}, timeout=60)
    lines = proc.stdout.splitlines()
    assert [line.split()[0] for line in lines[:2]] == ["ConvAE", "plain"], proc.stdout + proc.stderr
    assert lines[2:] == ["./models/"], proc.stdout + proc.stderr


def _unit(path: Path) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read_string(path.read_text())
    return unit


def test_install_service_writes_a_user_unit(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    units = tmp_path / "config" / "systemd" / "user"
    home = tmp_path / "my home"

    out = aetui(home, "worker", "--install-service", "--home", str(home), "--devices", "cpu", "--grace", "7",
                "--share").stdout
    (path,) = units.glob("aetui-worker-*.service")  # not the default home: a name of its own
    assert f"systemctl --user enable --now {path.name}" in out and "loginctl enable-linger" in out
    unit = _unit(path)
    service = unit["Service"]
    venv_aetui = str(Path(sys.executable).absolute().parent / "aetui")
    assert shlex.split(service["ExecStart"]) == [venv_aetui, "worker", "--home", str(home.resolve()),
                                                 "--devices", "cpu", "--grace", "7", "--share"]
    assert service["Restart"] == "on-failure"
    # SIGTERM to the worker alone, which checkpoints and requeues its jobs within --grace
    assert service["KillMode"] == "mixed" and int(service["TimeoutStopSec"]) > 7
    assert unit["Install"]["WantedBy"] == "default.target"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it may hold the store's URL

    # the default home: aetui-worker.service
    aetui(tmp_path / "data" / "aetui", "worker", "--install-service")
    default = _unit(units / "aetui-worker.service")["Service"]
    assert shlex.split(default["ExecStart"])[-2:] == ["--home", str((tmp_path / "data" / "aetui").resolve())]
    assert len(list(units.iterdir())) == 2


def test_the_unit_carries_where_the_store_is():
    from aetui.worker.service import unit_text

    text = unit_text(Path("/data/a%b"), [], env={"AETUI_DB": "postgresql://u:p%40ss@db/ae", "HOME": "/root"})
    assert "Environment=AETUI_DB=postgresql://u:p%%40ss@db/ae" in text.splitlines()  # systemd reads %% as %
    assert "HOME" not in text and "--home /data/a%%b" in text


def test_install_service_refuses_a_worker_that_would_not_wait(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    proc = aetui(tmp_path / "home", "worker", "--install-service", "--until-empty", check=False)
    assert proc.returncode == 2 and "--until-empty" in proc.stderr
    assert not (tmp_path / "config").exists()


def test_the_docs_quote_the_units_numbers():
    from aetui.worker.service import RESTART_S, STOP_MARGIN_S

    text = " ".join((ROOT / "docs" / "shell.md").read_text().split())
    assert f"(`Restart=on-failure`, {RESTART_S:g} s later)" in text
    assert f"(the grace period plus {STOP_MARGIN_S:g} s)" in text
