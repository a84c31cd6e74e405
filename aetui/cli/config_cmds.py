"""`aetui config` (the effective settings and where each came from) and `aetui notify test`
(a test message through every configured channel). The settings: `aetui.config`."""

# Annotations stay plain (no `from __future__ import annotations`): Typer would compile and
# evaluate all commands' annotation strings on every start, ~50 ms (benchmarks/cli_start.py).

from typing import Any

import typer

from aetui.cli.options import JsonOpt, print_json, user_errors

notify_app = typer.Typer(help="Notifications when jobs end: `aetui notify test`.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command(name="config")(user_errors(config))
    notify_app.command(name="test")(user_errors(test))
    app.add_typer(notify_app, name="notify")


def config(json: JsonOpt = False) -> None:
    """Print the effective settings and where each came from: a flag wins over the
    environment, which wins over the config file (~/.config/aetui/config.toml, or
    $AETUI_CONFIG), which wins over the default. Secrets (passwords, tokens in URLs) print as ***.

    Example: `aetui config` · `aetui config --json`
    """
    from aetui import config as cfg
    from aetui.cli.options import global_home

    file = cfg.path()
    settings = cfg.effective()  # a bad file: one line naming the file, the key and the problem (exit 2)
    settings["home"] = cfg.resolve("home", global_home())  # `aetui --home H config`
    rows = [(name, _shown(name, s.value), s.source, cfg.KEYS[name]) for name, s in settings.items()]
    if json:
        print_json({"file": str(file), "file_exists": file.is_file(),
                    "settings": {name: {"value": value, "source": source} for name, value, source, _ in rows}})
        return
    typer.echo(f"config file: {file}" + ("" if file.is_file() else " (none: defaults, flags and environment only)"))
    width = max(len(name) for name, *_ in rows)
    for name, value, source, key in rows:
        text = key.default_text if value is None and key.default_text else ("" if value is None else _text(value))
        typer.echo(f"{name:<{width}}  {text}  [{source}]")


def _shown(name: str, value: Any) -> Any:
    from aetui import config as cfg

    if name not in cfg.SECRET_KEYS or value is None:
        return value
    return [cfg.redact(v) for v in value] if isinstance(value, list) else cfg.redact(str(value))


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def test(json: JsonOpt = False) -> None:
    """Send a test message through every configured channel ([notify] command and urls in
    the config file), one at a time, and say how each went (exit 1 if one failed).

    Example: `aetui notify test`
    """
    from aetui import config as cfg
    from aetui.errors import UserError
    from aetui.notify.channels import Channels
    from aetui.notify.message import TEST_EVENT, Message

    channels = Channels.from_config()
    if not channels.any:
        raise UserError(f"no notification channel configured: set command or urls under [notify] in {cfg.path()}")
    message = Message(event=TEST_EVENT, status=TEST_EVENT, job_id=0, label="test")
    singles = ([Channels(command=channels.command, timeout_s=channels.timeout_s)] if channels.command else []) + \
              [Channels(urls=[url], timeout_s=channels.timeout_s) for url in channels.urls]
    results = []
    for one in singles:
        problems = one.send(message)
        results.append({"channel": one.describe()[0], "ok": not problems, "error": "; ".join(problems) or None})
    if json:
        print_json(results)
    else:
        for r in results:
            typer.echo(f"{r['channel']}: " + ("sent" if r["ok"] else f"FAILED ({r['error']})"))
    if not all(r["ok"] for r in results):
        raise typer.Exit(1)
