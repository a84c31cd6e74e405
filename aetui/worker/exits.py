"""The exit codes of a job's child process, a leaf every worker module may import
(`aetui.worker.execute` re-exports them)."""

EXIT_DONE, EXIT_FAILED, EXIT_STOPPED = 0, 1, 75
EXIT_HOST = 69  # EX_UNAVAILABLE: this host cannot run jobs (`aetui.worker.faults`); the job went back to the queue
