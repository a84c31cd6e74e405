"""A tiny training script to queue with `aetui add` (docs/your-own-code.md).

    aetui add --name toy -- python examples/train_script.py --steps 200

What any script needs to do to be a good citizen of the queue, in a few lines:

- TensorBoard scalars and images go to $AETUI_TB_DIR: the dashboard, `aetui report` and
  `aetui tb` show them as the run's curves and pictures (here with tensorboard's own
  writer; torch's `SummaryWriter(os.environ["AETUI_TB_DIR"])` and its `add_scalar` /
  `add_image` do the same);
- a checkpoint goes to $AETUI_RUN_DIR, written atomically, and the script resumes from it:
  `aetui retry` (or a worker that died) runs it again with $AETUI_ATTEMPT one higher;
- SIGTERM (a cancel, the worker stopping) may end it at any moment: the checkpoint makes
  that harmless.

It "trains" one number w by gradient descent on w**2, and draws it every `--image-every`
steps as a 16x16 picture that fades from red to green as w goes to 0; no torch, so it
starts at once. `--crash-at K` exits with code 3 at step K of the first attempt (a crash
to resume from).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time
from pathlib import Path


def scalar_event(tag: str, value: float, step: int):
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    return Event(wall_time=time.time(), step=step, summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)]))


def image_event(tag: str, png: bytes, size: int, step: int):
    """A picture as TensorBoard's image summary (the encoded PNG, as torch's `add_image` writes it)."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary

    image = Summary.Image(height=size, width=size, colorspace=3, encoded_image_string=png)
    return Event(wall_time=time.time(), step=step, summary=Summary(value=[Summary.Value(tag=tag, image=image)]))


def picture(w: float, size: int = 16) -> bytes:
    """w as a small RGB PNG: a diagonal gradient, red while w is large, green near 0."""
    from PIL import Image

    red = min(255, int(255 * abs(w) / 5))
    pixels = bytes(c for y in range(size) for x in range(size)
                   for c in (red, 255 - red, (x + y) * 255 // (2 * size - 2)))
    buf = io.BytesIO()
    Image.frombytes("RGB", (size, size), pixels).save(buf, format="PNG")
    return buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--sleep", type=float, default=0.0, help="seconds per step")
    parser.add_argument("--crash-at", type=int, default=0, help="exit 3 at this step of attempt 1")
    parser.add_argument("--image-every", type=int, default=2, help="a picture every this many steps (0: none)")
    args = parser.parse_args()

    run_dir = Path(os.environ.get("AETUI_RUN_DIR", "."))
    tb_dir = os.environ.get("AETUI_TB_DIR", str(run_dir / "tb"))
    attempt = int(os.environ.get("AETUI_ATTEMPT", "1"))
    checkpoint = run_dir / "checkpoint.json"
    state = json.loads(checkpoint.read_text()) if checkpoint.exists() else {"step": 0, "w": 5.0}
    print(f"attempt {attempt}: starting at step {state['step']}", flush=True)

    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(tb_dir)
    for step in range(state["step"] + 1, args.steps + 1):
        state["w"] -= args.lr * 2 * state["w"]
        loss = state["w"] ** 2
        writer.add_event(scalar_event("train/loss", loss, step))
        writer.add_event(scalar_event("toy/w", state["w"], step))
        if args.image_every and step % args.image_every == 0:
            writer.add_event(image_event("toy/picture", picture(state["w"]), 16, step))
        state["step"] = step
        tmp = checkpoint.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, checkpoint)  # atomic: a kill never leaves half a checkpoint
        print(f"step {step}/{args.steps} loss {loss:.6f}", flush=True)
        if step == args.crash_at and attempt == 1:
            writer.close()
            print("crashing on purpose", flush=True)
            return 3
        time.sleep(args.sleep)
    writer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
