"""The worker: finds devices, claims jobs, runs each in its own child process."""
