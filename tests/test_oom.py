"""The one out-of-memory detector, shared by the trainer and the worker's failure reasons.

The trainer's handling (fail clearly, or retry once at half the batch) is tested end to
end in tests/test_resilience.py with the AETUI_FAKE_OOM_AT_BATCH hook.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _cases():
    import torch

    return [
        (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("CUDA error: out of memory"), True),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), True),
        (RuntimeError("shape mismatch"), False),
        (ValueError("out of memory"), False),  # not an allocator's error: the user's message stands
        (KeyError("memory"), False),
    ]


@pytest.mark.parametrize("index", range(6))
def test_is_out_of_memory(index):
    from aetui.experiments.oom import is_out_of_memory

    error, expected = _cases()[index]
    assert is_out_of_memory(error) is expected


def test_worker_describes_any_job_that_ran_out_of_memory_in_one_line():
    from aetui.worker.execute import _describe

    reason = _describe(RuntimeError("CUDA error: out of memory\nCUDA kernel errors might be reported later"))
    assert reason == "out of memory: CUDA error: out of memory"
    assert _describe(RuntimeError("shape mismatch")) == "RuntimeError: shape mismatch"


def test_detector_imports_no_torch():
    code = ("import sys; from aetui.experiments.oom import is_out_of_memory; "
            "assert not is_out_of_memory(RuntimeError('x')); assert 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
