"""Your own autoencoder and your own images (`PATH.py:NAME`, `--data py:PATH.py:FUNC`).

One real training of the example model (`examples/my_ae.py`, which imports its sibling
`ae_parts.py`, on `examples/load_images.py:images`) is shared by the module: queued by the
real CLI, its source edited right after queueing, its worker and child killed with -9
after a checkpoint, and a second worker resumes it from the snapshot. Sweeps, walks and
probes then run on it in this process (`--now`: the same runners a worker's child runs).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Procs, ROOT, aetui, aetui_json, cli_env, wait_for

EXAMPLES = ROOT / "examples"
STEPS = 30


def copy_examples(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("my_ae.py", "ae_parts.py", "load_images.py"):
        shutil.copy(EXAMPLES / name, folder / name)
    return folder


def polled(home: Path, job_id: int):
    from aetui.home import Home
    from store import queries

    db = Home.resolve(home).db
    return queries.get_job(db, job_id), queries.attempts(db, job_id)


def stopped(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("T", "t")
    except OSError:
        return True


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def worker(home: Path, *args: str, **kwargs):
    env = cli_env(home)
    return [sys.executable, "-m", "aetui", "worker", "--poll", "0.2", *args], dict(cwd=ROOT, env=env, **kwargs)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One custom run, killed with -9 after its first checkpoint and resumed; the source
    files are broken right after queueing."""
    base = tmp_path_factory.mktemp("custom")
    home, src = base / "home", copy_examples(base / "src")
    originals = {name: sha(src / name) for name in ("my_ae.py", "ae_parts.py", "load_images.py")}
    job = aetui_json(home, "queue", f"{src}/my_ae.py:ConvAE", "--res", "16", "--opt", "latent=8",
                     "--opt", "norm=group", "--data", f"py:{src}/load_images.py:images", "--steps", str(STEPS),
                     "--batch-size", "8", "--checkpoint-every", "10", "--log-every", "5",
                     "--image-every", "1000")["id"]
    for name in ("my_ae.py", "ae_parts.py", "load_images.py"):  # edited after queueing: the run must not see it
        (src / name).write_text("raise RuntimeError('edited after queueing')\n")
    run_dir = Path(aetui_json(home, "show", str(job))["run_dir"])
    ckpts = run_dir / "checkpoints"
    procs = Procs()
    try:
        args, kw = worker(home)
        first = procs.start(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        wait_for(lambda: any(ckpts.glob("step_*.pt")), timeout=240, what="the first checkpoint")
        child = polled(home, job)[1][-1].pid
        os.kill(child, signal.SIGSTOP)  # frozen: it cannot checkpoint when its worker dies
        wait_for(lambda: stopped(child), timeout=60, what="the child to stop")
        first.kill()
        first.wait()
        os.kill(child, signal.SIGKILL)
        args, kw = worker(home, "--until-empty")
        out = subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)
        assert out.returncode == 0, out.stdout + out.stderr
    finally:
        procs.stop_all()
    return {"home": home, "src": src, "job": job, "run_dir": run_dir, "originals": originals}


@pytest.mark.slow
def test_a_custom_model_trains_from_its_snapshot_and_resumes_after_kill_9(trained):
    home, job, run_dir = trained["home"], trained["job"], trained["run_dir"]
    d = aetui_json(home, "show", str(job))
    assert d["status"] == "done", d["error"]
    assert [a["outcome"] for a in d["attempts"]] == ["lost", "done"]
    assert d["attempts"][1]["start_step"] >= 10, "the second attempt resumed from a checkpoint"
    assert d["steps_done"] == STEPS and d["metrics"]["heldout_mse"] > 0
    assert d["label"].startswith("my_ae.py:ConvAE res16 py:load_images.py:images")
    # what the model offers, recorded when it started training
    assert d["results"]["model"] == {"latent": True, "layers": ["encoder", "output"]}
    # the snapshot: both model files (the wrapper and the sibling it imports) and the data
    # function, as they were when queued, with their sha256
    code = d["spec"]["code"]
    assert set(code["model"]["files"]) == {"my_ae.py", "ae_parts.py"}
    assert set(code["data"]["files"]) == {"load_images.py"}
    for role, names in (("model", ("my_ae.py", "ae_parts.py")), ("data", ("load_images.py",))):
        manifest = json.loads((run_dir / "code" / f"{role}.json").read_text())
        assert manifest["sha256"] == code[role]["sha256"]
        for name in names:
            assert sha(run_dir / "code" / role / name) == trained["originals"][name] == manifest["files"][name]
    assert "edited after queueing" in (trained["src"] / "my_ae.py").read_text()


@pytest.mark.slow
def test_sweep_walk_and_probe_run_on_the_custom_run_from_its_snapshot(trained, one_thread):
    home, job = trained["home"], str(trained["job"])
    runs = {
        "walk latent": aetui_json(home, "walk", job, "--mode", "latent", "--steps", "3", "--chains", "2", "--now"),
        "walk diffuse": aetui_json(home, "walk", job, "--mode", "diffuse", "--steps", "3", "--chains", "2", "--now"),
        "probe encoder": aetui_json(home, "probe", job, "--layer", "encoder", "--iters", "3", "--images", "2", "--now"),
        "sweep": aetui_json(home, "sweep", job, "--images", "4", "--batch-size", "4", "--levels", "0.5",
                            "--samples", "2", "--now"),
    }
    for what, d in runs.items():
        assert d["status"] == "done", (what, d["error"])
    assert runs["probe encoder"]["results"]["layer_shape"] == [8]
    assert len(runs["sweep"]["points"]) == 1
    bad = aetui(home, "probe", job, "--layer", "bottleneck", check=False)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        f"aetui: error: unknown layer 'bottleneck' for job {job} (my_ae.py:ConvAE); layers: encoder, output"]


@pytest.mark.slow
def test_an_outside_checkpoint_is_rebuilt_only_from_a_snapshot_with_its_sha256(trained, tmp_path, one_thread):
    final = tmp_path / "outside.pt"
    shutil.copy(trained["run_dir"] / "checkpoints" / "final.pt", final)
    src = copy_examples(tmp_path / "fresh")
    data = f"py:{src}/load_images.py:images"  # a checkpoint alone has no data: --data, snapshotted too
    # the same home holds the snapshot with the checkpoint's sha256
    d = aetui_json(trained["home"], "walk", str(final), "--steps", "2", "--chains", "2", "--data", data, "--now")
    assert d["status"] == "done", d["error"]
    code = Path(d["run_dir"]) / "code"
    assert (code / "model" / "ae_parts.py").is_file() and (code / "data" / "load_images.py").is_file()
    # another home has none: refused, nothing queued; the model file named on the command line works
    other = tmp_path / "other"
    refused = aetui(other, "walk", str(final), "--steps", "2", "--data", data, check=False)
    assert refused.returncode == 2 and "no snapshot of its code with sha256" in refused.stderr
    assert "--model PATH.py:NAME" in refused.stderr and not (other / "runs").exists()
    d = aetui_json(other, "probe", str(final), "--model", f"{src}/my_ae.py:ConvAE", "--iters", "2",
                   "--images", "2", "--data", data, "--now")
    assert d["status"] == "done", d["error"]


@pytest.mark.slow
def test_a_model_without_encode_decode_or_probe_layers_refuses_latent_walks_and_inner_probes(home, tmp_path, one_thread):
    from aetui.home import Home
    from aetui.worker.foreground import run_now

    src = copy_examples(tmp_path / "src")
    job = aetui_json(home, "queue", f"{src}/my_ae.py:plain", "--res", "8", "--steps", "2", "--batch-size", "4",
                     "--data", f"py:{src}/load_images.py:images", "--opt", "width=2")["id"]
    run_now(Home.resolve(home), job, device="cpu", quiet=True)
    d = aetui_json(home, "show", str(job))
    assert d["status"] == "done", d["error"]
    assert d["results"]["model"] == {"latent": False, "layers": ["output"]}
    walk = aetui(home, "walk", str(job), "--mode", "latent", check=False)
    assert walk.returncode == 2 and "my_ae.py:plain has no encode and decode methods" in walk.stderr
    probe = aetui(home, "probe", str(job), "--layer", "encoder", check=False)
    assert probe.returncode == 2 and "has no probe_layers() method, so only --layer output" in probe.stderr
    assert len(aetui_json(home, "runs")) == 1  # nothing queued


@pytest.mark.slow
def test_run_time_failures_of_your_code_fail_the_job_with_one_line(home, tmp_path, one_thread, capfd):
    """The job fails with one line in `aetui show`; the traceback goes to the process's
    stderr (a worker's child writes it into the run's stderr.log), never into the store."""
    from aetui.home import Home
    from aetui.worker.foreground import run_now

    src = copy_examples(tmp_path / "src")
    (src / "shapes.py").write_text("from torch import nn\n\ndef wrong(res):\n    return nn.Conv2d(3, 1, 1)\n")
    (src / "broken.py").write_text("import not_a_module_anywhere\n\ndef M(res):\n    pass\n")
    (src / "odd.py").write_text("gone = None\n\ndef listing(res):\n    return [1, 2]\n")
    cases = {
        "broken.py:M": "model broken.py:M: importing broken failed: ModuleNotFoundError: "
                       "No module named 'not_a_module_anywhere'",
        "odd.py:gone": "model odd.py:gone: odd defines no 'gone'",
        "odd.py:listing": "model odd.py:listing: listing(res=8, ...) returned a list, not a torch.nn.Module",
        "shapes.py:wrong": "model shapes.py:wrong: maps (2, 3, 8, 8) to (2, 1, 8, 8); an autoencoder must map "
                           "(N, 3, res, res) to the same shape",
    }
    for ref, error in cases.items():
        job = aetui_json(home, "queue", f"{src}/{ref}", "--res", "8", "--steps", "1",
                         "--data", f"py:{src}/load_images.py:images")["id"]
        capfd.readouterr()
        run_now(Home.resolve(home), job, device="cpu", quiet=True)
        assert "Traceback" in capfd.readouterr().err
        d = aetui_json(home, "show", str(job))
        assert (d["status"], d["error"]) == ("failed", error)
        shown = aetui(home, "show", str(job)).stdout
        assert "Traceback" not in shown
    job = aetui_json(home, "queue", f"{src}/my_ae.py:plain", "--res", "8", "--steps", "1",
                     "--data", f"py:{src}/load_images.py:wrong_dtype")["id"]
    run_now(Home.resolve(home), job, device="cpu", quiet=True)
    d = aetui_json(home, "show", str(job))
    assert d["status"] == "failed"
    assert d["error"] == ("--data py:load_images.py:wrong_dtype returned a float32 array (48, 40, 40, 3); "
                          "expected uint8 N x H x W x 3 or N x 3 x H x W")


def test_opt_grids_and_dry_run(home, tmp_path):
    src = copy_examples(tmp_path / "src")
    dry = aetui(home, "queue", f"{src}/my_ae.py:ConvAE", "--res", "32", "--opt", "latent=8,16",
                "--opt", "norm=batch", "--dry-run")
    assert "would queue 2 jobs" in dry.stdout and "ae_parts.py" in dry.stdout and "my_ae.py" in dry.stdout
    assert not home.exists(), "a dry run writes nothing"
    jobs = aetui_json(home, "queue", f"{src}/my_ae.py:ConvAE", "--res", "32", "--opt", "latent=8,16",
                      "--opt", "norm=batch", "--opt", "width=4")
    specs = [aetui_json(home, "show", str(j["id"]))["spec"] for j in jobs]
    assert [s["options"] for s in specs] == [{"latent": 8, "norm": "batch", "width": 4},
                                            {"latent": 16, "norm": "batch", "width": 4}]
    assert specs[0]["code"]["model"]["sha256"] == specs[1]["code"]["model"]["sha256"]
    again = aetui_json(home, "show", str(jobs[0]["id"]))["requeue_command"]
    assert again == f"aetui queue {src}/my_ae.py:ConvAE --res 32 --opt latent=8 --opt norm=batch --opt width=4"


@pytest.mark.slow
def test_queueing_your_model_imports_neither_it_nor_torch(home, tmp_path):
    """Queue time reads the files (ast): the model file below would fail if imported."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "boom.py").write_text("raise SystemExit('imported at queue time')\n\ndef M(res):\n    pass\n")
    code = ("import runpy, sys\n"
            f"sys.argv = ['aetui', 'queue', '{src}/boom.py:M', '--res', '32', '--opt', 'a=1,2']\n"
            "try:\n    runpy.run_module('aetui', run_name='__main__')\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            "print('loaded:', sorted(m for m in ('torch', 'boom') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(home),
                         cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "loaded: []"
    assert len(aetui_json(home, "runs")) == 2


def test_snapshot_caps_warn_loudly(home, tmp_path):
    src = tmp_path / "big"
    src.mkdir()
    mods = [f"m{i}" for i in range(70)]
    (src / "entry.py").write_text("".join(f"import {m}\n" for m in mods) + "import huge\n\ndef M(res):\n    pass\n")
    for m in mods:
        (src / f"{m}.py").write_text("X = 1\n")
    (src / "huge.py").write_text("#" * 1_100_000 + "\n")
    out = aetui(home, "queue", f"{src}/entry.py:M", "--res", "32", "--dry-run")
    assert "left out huge.py (1100001 bytes, over the 1048576-byte cap)" in out.stderr
    assert "left out 7 local module(s) over the cap of 64 files (m63.py, m64.py" in out.stderr
    assert out.stdout.count(".py  ") == 64


BAD = {
    "no file": (["{src}/nope.py:M"], "model file {src}/nope.py does not exist"),
    "no name": (["{src}/my_ae.py:Nope"], "model file {src}/my_ae.py defines no 'Nope' at its top level"),
    "syntax": (["{src}/syntax.py:M"], "model file {src}/syntax.py: line 1: "),
    "no module": (["nopkg_xyz.models:M"], "model module 'nopkg_xyz.models' is not on the Python path"),
    "bad ref": (["{src}/my_ae.py:"], "': write PATH.py:NAME or package.module:NAME"),  # the path shown cut at 80
    "opt syntax": (["{src}/my_ae.py:ConvAE", "--opt", "latent"], "--opt 'latent': write KEY=VALUE"),
    "opt list": (["{src}/my_ae.py:ConvAE", "--opt", "latent=[1, 2]"], "is not a JSON scalar"),
    "opt json": (["{src}/my_ae.py:ConvAE", "--opt", 'latent={{"a": 1}}'], "is not a JSON scalar"),
    "opt twice": (["{src}/my_ae.py:ConvAE", "--opt", "a=1", "--opt", "a=2"], "--opt a: given twice"),
    "data no func": (["{src}/my_ae.py:ConvAE", "--data", "py:{src}/load_images.py:nope"],
                     "--data py: file {src}/load_images.py defines no 'nope' at its top level"),
    "data no file": (["{src}/my_ae.py:ConvAE", "--data", "py:{src}/nope.py:f"], "--data py: file {src}/nope.py does not exist"),
    "data syntax": (["{src}/my_ae.py:ConvAE", "--data", "py:nothing"], "--data py: 'nothing': write PATH.py:NAME"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(home, tmp_path, case):
    src = copy_examples(tmp_path / "src")
    (src / "syntax.py").write_text("def M(res:\n")
    args, expected = BAD[case]
    out = aetui(home, "queue", *[a.format(src=src) for a in args], "--res", "32", check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aetui: error: "), out.stderr
    if expected is not None:
        assert expected.format(src=src) in lines[0]
    assert not home.exists(), "bad input writes nothing"


def test_the_built_in_models_and_the_example_satisfy_the_protocol(one_thread):
    import torch

    sys.path.insert(0, str(EXAMPLES))
    try:
        from my_ae import ConvAE, plain
    finally:
        sys.path.remove(str(EXAMPLES))
    from aetui.models import Autoencoder, LatentAutoencoder, ProbedAutoencoder, build, supports_latent

    built = {"mlp": build("mlp", 8, width=8), "unet": build("unet", 32, base_width=4, depth=2),
             "unet-skips": build("unet", 32, base_width=4, depth=2, skips=True),
             "attn-unet": build("attn-unet", 32, base_width=8, depth=2), "ConvAE": ConvAE(res=16), "plain": plain(res=16)}
    for name, model in built.items():
        res = 8 if name == "mlp" else 16 if name in ("ConvAE", "plain") else 32
        x = torch.rand(2, 3, res, res)
        assert isinstance(model, Autoencoder) and model(x).shape == x.shape, name
        if name in ("ConvAE", "plain"):
            continue
        assert isinstance(model, ProbedAutoencoder), name
        family = name.removesuffix("-skips")
        if supports_latent(family, **({"skips": True} if name.endswith("-skips") else {})):
            assert isinstance(model, LatentAutoencoder), name
    assert isinstance(built["ConvAE"], LatentAutoencoder) and isinstance(built["ConvAE"], ProbedAutoencoder)
    assert not isinstance(built["plain"], LatentAutoencoder) and not isinstance(built["plain"], ProbedAutoencoder)


@pytest.mark.slow  # over 1.5 s on 2 idle cores: not in the quick loop
def test_a_module_on_the_python_path_is_snapshotted_with_its_package_and_git_state(home, tmp_path, monkeypatch,
                                                                                  one_thread):
    """`package.module:NAME`: found without importing it; the snapshot takes the package's
    __init__, the module and what it imports relatively; the git commit and dirty flag of
    its checkout are in the manifest; the job imports it from the snapshot."""
    from aetui.home import Home
    from aetui.worker.foreground import run_now

    repo = tmp_path / "repo"
    (repo / "mypkg").mkdir(parents=True)
    (repo / "mypkg" / "__init__.py").write_text("")
    (repo / "mypkg" / "parts.py").write_text("from torch import nn\n\ndef conv():\n    return nn.Conv2d(3, 3, 1)\n")
    (repo / "mypkg" / "models.py").write_text("from .parts import conv\n\ndef Tiny(res):\n    return conv()\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    for args in (["init", "-q"], ["add", "."], ["commit", "-qm", "x"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    (repo / "mypkg" / "parts.py").write_text((repo / "mypkg" / "parts.py").read_text() + "# edited\n")
    monkeypatch.chdir(repo)
    data = f"py:{copy_examples(tmp_path / 'src')}/load_images.py:images"
    job = aetui_json(home, "queue", "mypkg.models:Tiny", "--res", "8", "--steps", "1", "--data", data)["id"]
    (repo / "mypkg" / "models.py").write_text("raise RuntimeError('edited after queueing')\n")
    monkeypatch.chdir(tmp_path)  # the job finds nothing of mypkg but its snapshot
    run_now(Home.resolve(home), job, device="cpu", quiet=True)
    d = aetui_json(home, "show", str(job))
    assert d["status"] == "done", d["error"]
    manifest = d["spec"]["code"]["model"]
    assert set(manifest["files"]) == {"mypkg/__init__.py", "mypkg/models.py", "mypkg/parts.py"}
    assert manifest["git"]["dirty"] is True and len(manifest["git"]["commit"]) == 40
    assert manifest["source"] == str(repo.resolve())


USES_JSON = "import json\n\ndef M(res):\n    return json.dumps({'res': res})\n"


def test_a_file_named_like_a_standard_or_installed_module_is_refused(home, tmp_path, monkeypatch):
    """`json.py` beside a model that does `import json`: first on the worker's sys.path it
    would be every `import json` of the process, and the model's own could not reach the
    real one. Refused at queue time, naming the file; renamed, the model gets the standard
    json. A snapshot that holds one anyway (queued before the check) fails at run time with
    one line before sys.path or sys.modules are touched."""
    from aetui.code_snapshot import CodeError, import_object
    from aetui.run_layout import RunLayout

    src = tmp_path / "src"
    src.mkdir()
    (src / "model.py").write_text(USES_JSON)
    (src / "json.py").write_text("def dumps(obj):\n    return 'not json'\n")
    (src / "uses_torch.py").write_text("import torch\n\ndef M(res):\n    pass\n")
    (src / "torch.py").write_text("X = 1\n")
    (src / "copy.py").write_text("def M(res):\n    pass\n")
    (src / "uses_store.py").write_text("import store\n\ndef M(res):\n    pass\n")
    (src / "store.py").write_text("X = 1\n")
    for ref, line in (("model.py:M", f"model file {src}/json.py shadows the standard library module json; rename it"),
                      ("copy.py:M", f"model file {src}/copy.py shadows the standard library module copy; rename it"),
                      ("uses_torch.py:M", f"model file {src}/torch.py shadows the installed module torch ("),
                      ("uses_store.py:M", f"model file {src}/store.py shadows aetui's own package store; rename it")):
        out = aetui(home, "queue", f"{src}/{ref}", "--res", "32", check=False)
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert out.stderr.startswith(f"aetui: error: {line}"), out.stderr
    out = aetui(home, "queue", "unet", "--res", "32", "--data", f"py:{src}/copy.py:M", check=False)
    assert out.returncode == 2 and "--data py: file " in out.stderr and "standard library module copy" in out.stderr
    assert not home.exists(), "nothing queued"

    (src / "json.py").rename(src / "jsonish.py")
    job = aetui_json(home, "queue", f"{src}/model.py:M", "--res", "32")["id"]
    layout = RunLayout.at(Path(aetui_json(home, "show", str(job))["run_dir"]))
    folder, manifest = layout.code_dir("model"), json.loads(layout.code_manifest("model").read_text())
    assert set(manifest["files"]) == {"model.py"}
    monkeypatch.setattr(sys, "path", list(sys.path))  # what import_object puts first goes with the test
    try:
        assert json.loads(import_object(folder, manifest)(res=32)) == {"res": 32}  # the real json
        # a snapshot holding json.py anyway: refused before anything is imported
        (folder / "json.py").write_text("def dumps(obj):\n    return 'not json'\n")
        manifest["files"]["json.py"] = "0" * 64
        path_before = list(sys.path)
        with pytest.raises(CodeError) as e:
            import_object(folder, manifest)
        assert str(e.value) == ("model model.py:M: json.py in its snapshot shadows the standard library module "
                                "json; rename it")
        assert sys.path == path_before and sys.modules["json"].dumps({}) == "{}"
    finally:
        sys.modules.pop("model", None)


def test_a_package_in_site_packages_is_snapshotted_without_the_libraries_beside_it(home, tmp_path, monkeypatch):
    """`mypkg.models:build` installed in site-packages (here the user's own site folder): the
    snapshot takes mypkg's files, not the other installed modules it imports from there."""
    import site

    usersite = tmp_path / "user-site"
    (usersite / "mypkg").mkdir(parents=True)
    (usersite / "mypkg" / "__init__.py").write_text("")
    (usersite / "mypkg" / "parts.py").write_text("import otherlib\n\nX = 1\n")
    (usersite / "mypkg" / "models.py").write_text("import otherlib\nfrom mypkg import parts\n\ndef build(res):\n    pass\n")
    (usersite / "otherlib.py").write_text("Y = 2\n")  # another installed library
    monkeypatch.setattr(site, "USER_SITE", str(usersite))
    monkeypatch.syspath_prepend(str(usersite))
    monkeypatch.chdir(tmp_path)
    out = aetui(home, "queue", "mypkg.models:build", "--res", "32", "--dry-run")
    taken = [line.split()[0] for line in out.stdout.splitlines() if ".py  " in line]
    assert sorted(taken) == ["mypkg/__init__.py", "mypkg/models.py", "mypkg/parts.py"], out.stdout
