"""Pictures a run wrote as TensorBoard image summaries: a command job's `add_image` (torch,
tensorboardX) or `tf.summary.image` under `$AETUI_TB_DIR`.

Read with tensorboard's own accumulator, which gives both formats as one (a string tensor
`[width, height, encoded image...]` of the `images` plugin). A run's accumulators are kept
between reads: when its event files grow (the dashboard polls a running job), only what was
appended is read. The last few runs read are kept so; the bytes stay encoded (PNG,
JPEG...) and `aetui.tui.data.images` decodes the one shown.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetui.run_layout import RunLayout
from aetui.tui.data.curves import files_key

# pictures kept of each tag: a sample over the run, the newest always among them
# (tensorboard's reservoir), so a long run's thousands of images do not fill memory
IMAGES_PER_TAG = 100
RUNS_KEPT = 8  # runs whose accumulators (and pictures) stay in memory, the last read
IMAGES_PLUGIN = "images"  # tensorboard.plugins.image.metadata.PLUGIN_NAME


@dataclass(frozen=True)
class TbImage:
    tag: str
    step: int
    index: int  # which of the images written at this step (tf's `max_outputs` > 1)
    count: int  # how many were written at this step
    data: bytes  # the encoded image, as written


@dataclass
class _Run:
    lock: threading.Lock = field(default_factory=threading.Lock)
    key: tuple = ()
    accumulators: dict[str, Any] = field(default_factory=dict)  # by folder
    images: dict[str, list[TbImage]] = field(default_factory=dict)


_runs: "OrderedDict[str, _Run]" = OrderedDict()
_lock = threading.Lock()


def read_images(run_dir: str | Path) -> dict[str, list[TbImage]]:
    """Each image tag of a run's TensorBoard files and its pictures in step order; {} when
    there are none (yet)."""
    tb = RunLayout.at(run_dir).tb
    if not tb.is_dir():
        return {}
    key = files_key(tb)
    if not key:
        return {}
    with _lock:
        run = _runs.setdefault(str(tb), _Run())
        _runs.move_to_end(str(tb))
        while len(_runs) > RUNS_KEPT:
            _runs.popitem(last=False)
    with run.lock:
        if run.key != key:
            run.images = _reload(tb, run.accumulators)
            run.key = key
        return run.images


def _reload(tb: Path, accumulators: dict[str, Any]) -> dict[str, list[TbImage]]:
    """Read what was appended to each folder's event files (all of it, the first time)."""
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator

    by_tag: dict[str, dict[int, list[bytes]]] = {}
    # every folder that holds event files (a writer per subfolder is common); a later
    # folder's step replaces an earlier one's of the same tag
    for folder in sorted({str(f.parent) for f in tb.rglob("events.out.tfevents.*")}):
        acc = accumulators.get(folder)
        if acc is None:
            acc = accumulators[folder] = EventAccumulator(
                folder, size_guidance={"tensors": 1}, tensor_size_guidance={IMAGES_PLUGIN: IMAGES_PER_TAG})
        try:
            acc.Reload()
        except Exception:  # a file being written or truncated: read it afresh next poll
            del accumulators[folder]
            continue
        if IMAGES_PLUGIN not in acc.ActivePlugins():  # scalars only, say
            continue
        for tag in acc.PluginTagToContent(IMAGES_PLUGIN):
            steps = by_tag.setdefault(tag, {})
            for ev in acc.Tensors(tag):
                encoded = list(ev.tensor_proto.string_val[2:])  # after the width and the height
                if encoded:
                    steps[int(ev.step)] = encoded
    return {tag: [TbImage(tag, step, n, len(encoded), data)
                  for step, encoded in sorted(steps.items()) for n, data in enumerate(encoded)]
            for tag, steps in sorted(by_tag.items()) if steps}
