"""NVML (the `pynvml` package of nvidia-ml-py), initialised once per process, or None
where there is no package or no driver. The dashboard's devices panel and the worker's
usage meter (`aetui.worker.usage`) both read GPUs through it."""

from __future__ import annotations

import threading

_lock = threading.Lock()
_state: dict[str, object] = {}


def module():
    """The pynvml module, initialised, or None (no package, no driver)."""
    with _lock:
        if "module" in _state:
            return _state["module"]
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
        except Exception:
            pynvml = None
        _state["module"] = pynvml
        return pynvml
