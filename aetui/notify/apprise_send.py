"""`python -m aetui.notify.apprise_send`: send one message through apprise URLs, read as
JSON from stdin (`{"urls": [...], "title": ..., "body": ...}`; never on the command line,
where `ps` would show the tokens). Exit 0 when every URL took it.

A process of its own so that the sender can stop it at its timeout: apprise's `notify`
has none of its own, and a thread cannot be stopped."""

from __future__ import annotations

import json
import sys


def main() -> int:
    try:
        import apprise
    except ImportError:
        print("apprise is not installed: pip install 'aetui[notify]'", file=sys.stderr)
        return 3
    request = json.load(sys.stdin)
    failed = []
    for url in request["urls"]:  # one at a time: say which one failed
        one = apprise.Apprise()
        if not one.add(url) or not one.notify(title=request["title"], body=request["body"]):
            failed.append(url)
    if failed:
        from aetui.config import redact

        print(f"apprise could not send to {', '.join(redact(u) for u in failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
