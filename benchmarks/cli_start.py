"""CLI start-up: wall time of `aetui --help`, `aetui queue ...` and `aetui runs` above `python -c pass`,
and of a shell's TAB on a job id (`aetui show <TAB>`: job ids and labels from the store).

Each command runs as a fresh subprocess (the installed `aetui` script, else
`python -m aetui`), all of them in interleaved rounds; medians are reported, and the
figure that matters is the median minus the median of `python -c pass` (the
interpreter's own start); for the TAB, the whole wall time (what the user waits for,
target 0.2 s). Every command runs with a typical config file (`aetui.config`,
`$AETUI_CONFIG`), so reading it is in the figures (`--help` does not read it). One more
run of each, outside the timing, records which heavy
modules it imported: none of them may import torch.

    python benchmarks/cli_start.py [--repeats 10] [--jobs 200] [--baseline DIR]

`--baseline DIR` (a checkout of another commit, e.g. `git worktree add --detach DIR REV`)
adds the same three commands run from that tree, in the same rounds, each tree with a
store of its own made by its own code; both trees then run as `python -m aetui` with
`PYTHONPATH` set to the tree, and the paired ratios (this tree / baseline) are reported.
The cost of reading the config file is measured the same way: `--help` and `queue` with
the file and with none.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, median, paired_ratio, rounds, say, write_result  # noqa: E402

HEAVY = ("torch", "numpy", "PIL", "sqlmodel", "sqlalchemy", "alembic", "pydantic", "textual", "rich", "typer.rich_utils",
         "tensorboard")
TARGETS_S = {"help": 0.15, "queue": 1.0, "runs": 1.0}  # at most this much above `python -c pass`
COMPLETE_TARGET_S = 0.2  # a TAB on a job id answers within this, start-up included
# what bash's completion script sets for `aetui show <TAB>` (aetui.cli.completion)
COMPLETE_ENV = {"_AETUI_COMPLETE": "bash_complete", "COMP_WORDS": "aetui show ", "COMP_CWORD": "2"}

# a config file as a user keeps one (its home is the benchmark's: AETUI_HOME wins)
CONFIG = """\
home = "/data/aetui"
graphics = "halfblock"
[worker]
poll = 1.0
stall_timeout = 3600
[notify]
on = ["done", "failed", "group"]
command = 'notify-send "aetui #$AETUI_JOB_ID $AETUI_STATUS"'
urls = ["ntfy://my-topic"]
"""

# runs the CLI like the console script does, then writes the heavy modules it imported
PROBE = """
import atexit, json, sys
out = sys.argv.pop(1)
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules))))
sys.argv[0] = "aetui"
from aetui.cli import main
main()
"""


def aetui_command() -> list[str]:
    script = Path(sys.executable).parent / "aetui"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "aetui"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=10, help="interleaved rounds")
    p.add_argument("--jobs", type=int, default=200, help="jobs in the store that `runs` lists (it shows 50)")
    p.add_argument("--tiny", action="store_true", help="2 rounds, 20 jobs")
    p.add_argument("--out", help="folder for the JSON (default: $OUT, else benchmarks/results)")
    p.add_argument("--baseline", help="a checkout of another commit to compare with, in the same rounds")
    args = p.parse_args(argv)
    repeats, jobs = (2, 20) if args.tiny else (args.repeats, args.jobs)

    aetui = aetui_command()
    with tempfile.TemporaryDirectory(prefix="aetui-bench-") as tmp:
        home = Path(tmp) / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AETUI_")}
        config = Path(tmp) / "config.toml"
        config.write_text(CONFIG)
        env.update(AETUI_HOME=str(home), COLUMNS="120", AETUI_CONFIG=str(config))
        seed_store(home, jobs)
        commands = {
            "pass": [sys.executable, "-c", "pass"],
            # floors: importing only the libraries a verb cannot do without (Typer; Typer's
            # pydantic-based option parsing and the store's SQLAlchemy/SQLModel for `queue`)
            "floor_typer": [sys.executable, "-c", "import typer"],
            "floor_queue": [sys.executable, "-c", "import typer._adapters, sqlmodel"],
            "help": [*aetui, "--help"],
            "queue": [*aetui, "queue", "unet", "--res", "32", "--data", "builtin:64", "--steps", "10"],
            "runs": [*aetui, "runs"],
            "complete": [*aetui],  # with COMPLETE_ENV
        }
        envs = {name: {**env, **COMPLETE_ENV} if name == "complete" else env for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}

        def timed(name: str, cmd: list[str]):
            def run() -> float:
                wall, cpu_s = run_once(cmd, envs[name], tmp)
                cpu[name].append(cpu_s)
                return wall
            return run

        samples = rounds({name: timed(name, cmd) for name, cmd in commands.items()}, repeats)
        imported = {name: modules_imported(cmd[len(aetui):], envs[name], tmp) for name, cmd in commands.items()
                    if name in TARGETS_S}
        tab_imported = modules_imported([], envs["complete"], tmp)
        config_cost = config_pairs(commands["help"], commands["queue"], env, 2 * repeats, tmp)
        versus = (compare_trees(Path(args.baseline).resolve(), {k: commands[k][len(aetui):] for k in TARGETS_S}, env,
                                jobs, 2 * repeats, tmp) if args.baseline else None)
        offered = len(subprocess.run(commands["complete"], env=envs["complete"], cwd=tmp, capture_output=True,
                                     text=True, check=True).stdout.splitlines())

    med = {k: median(v) for k, v in samples.items()}
    above = {k: round(med[k] - med["pass"], 3) for k in TARGETS_S}
    floors = {k: round(med[k] - med["pass"], 3) for k in ("floor_typer", "floor_queue")}
    med_cpu = {k: median(v) for k, v in cpu.items()}
    above_cpu = {k: round(med_cpu[k] - med_cpu["pass"], 3) for k in above}
    data = {
        "command": " ".join(aetui), "repeats": repeats, "jobs_in_store": jobs, "config_file": CONFIG,
        "median_s": {k: round(v, 3) for k, v in med.items()},
        "above_pass_s": above,
        "ratio_to_pass": {k: round(med[k] / med["pass"], 2) for k in above},
        # user + system CPU time of the process: what its wall time is on an idle machine
        # (on a loaded one, wall time also counts the waits for a free core)
        "cpu_median_s": {k: round(v, 3) for k, v in med_cpu.items()},
        "cpu_above_pass_s": above_cpu,
        "floors_above_pass_s": floors,
        "cpu_floors_above_pass_s": {k: round(med_cpu[k] - med_cpu["pass"], 3) for k in floors},
        "samples_s": {k: [round(x, 3) for x in v] for k, v in samples.items()},
        "cpu_samples_s": {k: [round(x, 3) for x in v] for k, v in cpu.items()},
        "heavy_modules_imported": imported,
        "targets_above_pass_s": TARGETS_S,
        "met": {k: above[k] <= TARGETS_S[k] and "torch" not in imported[k] for k in TARGETS_S},
        "met_cpu_time": {k: above_cpu[k] <= TARGETS_S[k] and "torch" not in imported[k] for k in TARGETS_S},
        # a TAB on `aetui show `: whole wall and CPU time, the job ids it offered (at most 100)
        "complete": {"median_s": round(med["complete"], 3), "cpu_median_s": round(med_cpu["complete"], 3),
                     "target_s": COMPLETE_TARGET_S, "offered": offered, "heavy_modules_imported": tab_imported,
                     "met": med["complete"] <= COMPLETE_TARGET_S and not tab_imported,
                     "met_cpu_time": med_cpu["complete"] <= COMPLETE_TARGET_S and not tab_imported},
    }
    data["config_file_cost"] = config_cost
    if versus:
        data["baseline"] = versus
    path = write_result("cli_start", data, args.out, tiny=args.tiny)
    for k, r in config_cost["paired_ratio_with_to_without"].items():
        say(f"{k:6s} with the config file / with none (AETUI_CONFIG=/dev/null): x{r} ({config_cost['pairs']} pairs)")
    if versus:
        for k, r in versus["paired_ratio_this_to_base"].items():
            say(f"{k:6s} this tree / baseline {versus['commit'][:9]}: x{r} wall, "
                f"x{versus['paired_cpu_ratio_this_to_base'][k]} CPU time ({versus['pairs']} pairs)")
    for k in above:
        say(f"{k:6s} median {med[k]:.3f} s, {above[k]:+.3f} s above `python -c pass` (target {TARGETS_S[k]} s;"
            f" CPU time {above_cpu[k]:+.3f} s above); imported {', '.join(imported[k]) or 'no heavy module'}")
    say(f"TAB on a job id: median {med['complete']:.3f} s (target {COMPLETE_TARGET_S} s; CPU time "
        f"{med_cpu['complete']:.3f} s), {offered} ids offered; imported {', '.join(tab_imported) or 'no heavy module'}")
    say(f"wrote {path}")
    return 0


def run_once(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float]:
    """Wall time and the child's user + system CPU time of one run."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {stderr.decode()[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime


def config_pairs(help_cmd: list[str], queue_cmd: list[str], env: dict[str, str], pairs: int, tmp: str) -> dict:
    """What reading the config file costs: `--help` and `queue` with the typical file and
    with none (`AETUI_CONFIG=/dev/null`), back to back, `pairs` times."""
    envs = {"with": env, "without": {**env, "AETUI_CONFIG": "/dev/null"}}
    verbs = {"help": help_cmd, "queue": queue_cmd}
    wall = {(v, t): [] for v in verbs for t in envs}
    for r in range(pairs):
        for verb, cmd in verbs.items():
            for tag in (("with", "without") if r % 2 == 0 else ("without", "with")):
                wall[verb, tag].append(run_once(cmd, envs[tag], tmp)[0])
    return {"pairs": pairs, "median_s": {v: {t: round(median(wall[v, t]), 3) for t in envs} for v in verbs},
            "paired_ratio_with_to_without": {v: paired_ratio(wall[v, "with"], wall[v, "without"]) for v in verbs}}


def compare_trees(baseline: Path, verbs: dict[str, list[str]], env: dict[str, str], jobs: int, pairs: int,
                  tmp: str) -> dict:
    """Each verb from this tree and from `baseline`, back to back (which one first alternates),
    `pairs` times: on a shared machine whose load swings by half within seconds, only
    neighbours in time compare. Both run as `python -m aetui` on a store of their own."""
    trees = {"this": ROOT, "base": baseline}
    envs = {}
    for tag, tree in trees.items():
        home = Path(tmp) / f"home-{tag}"
        seed_store(home, jobs, tree=tree)
        envs[tag] = {**env, "AETUI_HOME": str(home), "PYTHONPATH": str(tree)}
    wall = {(verb, tag): [] for verb in verbs for tag in trees}
    cpu = {(verb, tag): [] for verb in verbs for tag in trees}
    for r in range(pairs):
        for verb, args in verbs.items():
            for tag in (("this", "base") if r % 2 == 0 else ("base", "this")):
                w, c = run_once([sys.executable, "-m", "aetui", *args], envs[tag], tmp)
                wall[verb, tag].append(w)
                cpu[verb, tag].append(c)
    return {
        "tree": str(baseline), "commit": _commit(baseline), "this_commit": _commit(ROOT), "pairs": pairs,
        "median_s": {v: {t: round(median(wall[v, t]), 3) for t in trees} for v in verbs},
        "cpu_median_s": {v: {t: round(median(cpu[v, t]), 3) for t in trees} for v in verbs},
        "paired_ratio_this_to_base": {v: paired_ratio(wall[v, "this"], wall[v, "base"]) for v in verbs},
        "paired_cpu_ratio_this_to_base": {v: paired_ratio(cpu[v, "this"], cpu[v, "base"]) for v in verbs},
    }


def _commit(tree: Path) -> str:
    out = subprocess.run(["git", "-C", str(tree), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "?"


def seed_store(home: Path, jobs: int, tree: Path = ROOT) -> None:
    """A store with `jobs` queued training jobs, made by `tree`'s code in a subprocess (this
    process stays light)."""
    code = ("import sys; from aetui.home import Home; from store.queue import enqueue_many\n"
            "h = Home.resolve(sys.argv[1]); n = int(sys.argv[2])\n"
            "spec = {'model': 'unet', 'res': 32, 'data': 'builtin:64', 'steps': 10}\n"
            "enqueue_many(h.db, [dict(kind='train', spec=spec, label=f'unet res32 #{i}', total_steps=10)"
            " for i in range(n)], run_root=str(h.runs))\n")
    subprocess.run([sys.executable, "-c", code, str(home), str(jobs)], check=True, cwd=tree,
                   env={**os.environ, "PYTHONPATH": str(tree)})


def modules_imported(args: list[str], env: dict[str, str], cwd: str) -> list[str]:
    out = Path(cwd) / "modules.json"
    out.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), str(out), *args], env=env, cwd=cwd,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.loads(out.read_text()) if out.exists() else ["(probe failed)"]


if __name__ == "__main__":
    sys.exit(main())
