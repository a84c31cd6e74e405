"""The process a worker starts for one job: `python -m aetui.worker.child ...`.

SIGTERM or SIGINT asks the job to stop: it saves a checkpoint and exits with
EXIT_STOPPED, and the job goes back to the queue (or is recorded as cancelled).
With AETUI_RANK > 0 in its environment it is a further rank of a job on several
devices, which writes nothing to the store (`aetui.worker.gang`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from aetui.home import Home
from aetui.worker.execute import execute


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="aetui-child")
    parser.add_argument("--home", required=True)
    parser.add_argument("--job", type=int, required=True)
    parser.add_argument("--owner", required=True)
    parser.add_argument("--device", required=True, help="torch device inside this process, e.g. cpu or cuda:0")
    args = parser.parse_args(argv)

    stop = {"asked": False}

    def ask_stop(signum, _frame) -> None:
        stop["asked"] = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    print(f"aetui: job {args.job} on {args.device} (lease {args.owner})", flush=True)
    if os.environ.get("AETUI_RANK", "0") not in ("", "0"):  # a further rank of a job on several devices
        from aetui.worker.gang import follow

        code = follow(Home.resolve(args.home), args.job, owner=args.owner, device=args.device,
                      should_stop=lambda: stop["asked"])
    else:
        code = execute(Home.resolve(args.home), args.job, owner=args.owner, device=args.device,
                       should_stop=lambda: stop["asked"])
    print(f"aetui: job {args.job} exit {code}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
