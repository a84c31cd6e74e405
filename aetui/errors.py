"""The one exception type whose message is shown to the user as is (exit code 2).

Raise it where an error is the user's to fix (bad input, a missing file, a job in the
wrong state); any other exception reaching a verb is a bug (`aetui.cli.options.user_errors`).
"""


class UserError(ValueError):
    """Bad input or a request that cannot be done; the text is one clear line."""
