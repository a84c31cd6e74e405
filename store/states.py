"""A job's statuses: the lifecycle queued -> running -> done / failed / cancelled.

Plain constants in a module of their own, so light readers (`aetui runs`) use them
without importing the tables (SQLModel costs most of a second to import).
"""

STATUSES = ("queued", "running", "done", "failed", "cancelled")
ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")
