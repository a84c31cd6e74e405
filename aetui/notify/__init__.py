"""Notifications when jobs end: the message (`message.py`), the channels that carry it (a
shell command, apprise URLs: `channels.py`), and the worker's background sender that
empties the store's outbox (`sender.py`). Configured by `[notify]` in the config file
(`aetui.config`); docs/notifications.md is the user's page."""
