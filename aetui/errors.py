"""The one exception type whose message is shown to the user as is (exit code 2)."""


class UserError(ValueError):
    """Bad input or a request that cannot be done; the text is one clear line."""
