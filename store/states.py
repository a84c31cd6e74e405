"""A job's statuses (the lifecycle queued -> running -> done / failed / cancelled) and
the orders a list of jobs can be read in.

Plain constants in a module of their own, so light readers (`aetui runs`, the
dashboard's first paint) use them without importing the tables (SQLModel costs most of
a second to import).
"""

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")

# the orders of `store.queries.job_window`
JOB_SORTS = ("id", "kind", "model", "res", "status", "progress", "loss", "images_per_s", "eta", "device",
             "priority")
UNCHANGING_SORTS = frozenset({"id", "kind", "model", "res"})  # values that never change while a job runs
