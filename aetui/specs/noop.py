"""The hidden `noop` job kind's spec (runner: `aetui.experiments.noop`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class NoopSpec(BaseModel):
    """A hidden job kind that only sleeps and reports progress: a test and benchmark aid
    for the queue and the worker (many cheap jobs through real worker processes). Not
    offered by the CLI."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["noop"] = "noop"
    steps: int = Field(1, ge=1)
    sleep_s: float = Field(0.0, ge=0, description="seconds per step, not interrupted by a stop request")
    gpus: int = Field(1, ge=1, description="devices it holds (one process each, as a data-parallel job)")
    # fault aids for tests: a job that hangs, a job that writes into its run folder as it goes
    hang_at: int = Field(0, ge=0, description="at this step stop reporting and ignore stop requests, as a deadlock would (0: never)")
    write_steps: bool = Field(False, description="write each step to noop.step in the run folder, as a training writes its events")

    @property
    def label(self) -> str:
        return f"noop {self.steps} steps"
