"""Blocking reads for the dashboard. Everything here may touch SQLite or the disk, so
it is only called from Textual thread workers, never from a message handler."""
