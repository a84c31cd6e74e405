"""The worker's timings, each written once: the worker, the Slurm task, the scheduler,
`aetui worker`'s options and help, and the docs (tests/test_worker.py checks the numbers
the docs quote) read them from here. Imports nothing, so `aetui --help` may use it.

The lease itself (how long a claim holds without a heartbeat) is the store's:
`store.queue.LEASE_S`, 60 s, a dozen heartbeats.
"""

HEARTBEAT_S = 5.0  # a running job's lease is renewed this often (by the worker, or the Slurm task)
CANCEL_GRACE_S = 20.0  # a stopped or cancelled job's time to checkpoint before SIGKILL (`--grace`)
GRACE_ENV = "AETUI_GRACE_S"  # the worker's grace as its child sees it (a command job ends its group sooner)
POLL_S = 1.0  # the worker's pause between looks at the queue (`--poll`)
RESERVE_AFTER_S = 600.0  # a wide job's wait before narrower ones stop overtaking it (`--reserve-after`)
RESERVE_AFTER_SKIPS = 20  # ... or after this many times a narrower job started before it
STALL_S = 1800.0  # a job that reports no progress this long is stopped as stalled (`--stall-timeout`; 0: never)
STOP_POLL_S = 0.2  # while stopping: how often the worker looks whether its children ended

SLURM_POLL_S = 5.0  # how often the worker asks Slurm about each job (scontrol is cheap; be polite anyway)
SLURM_CHECKPOINT_GRACE_S = 60.0  # submitit's USR2 comes 90 s before the time limit by default
SLURM_TIME_MIN = 24 * 60  # a Slurm job's time limit without `--time` (submitit's own default is 5 minutes)
