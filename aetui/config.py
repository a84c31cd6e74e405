"""Your defaults, once: `~/.config/aetui/config.toml` (or `$AETUI_CONFIG`).

Every setting has one precedence, written here once: a flag on the command line, else
its environment variable, else the config file, else the built-in default. `resolve(key,
flag)` answers with the value and where it came from (`Setting.source`), so `aetui config`
can say why each value is what it is.

    home = "/data/aetui"
    db = "postgresql://..."                 # optional: the shared store
    runs_root = "/shared/runs"
    device = "cuda:0,cuda:1"                # `aetui worker --devices`
    graphics = "kitty"
    [worker]
    poll = 1.0
    [notify]
    on = ["done", "failed", "group"]
    command = 'notify-send "aetui #$AETUI_JOB_ID $AETUI_STATUS"'
    urls = ["ntfy://my-topic"]              # apprise URLs

The API, for any module (torch-, pydantic- and SQLAlchemy-free; `tomllib` is loaded only
when a file is read, never by `aetui --help`):

- `load()`: the file's values, read and checked once per process (read again only when
  the file changes); a bad file is `UserError` naming the file, the key and the problem.
- `resolve(key, flag=None)`: `Setting(value, source)` after the precedence above.
- `effective()`: every key resolved, for `aetui config`.
- `path()`: the config file in use (it may not exist: then every value is a default).

`AETUI_CONFIG=/dev/null` reads no file (the tests do this, so a developer's own config
never leaks into them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from aetui.errors import UserError
from aetui.worker import defaults as worker_defaults  # imports nothing
from store.states import NoticeEvent

CONFIG_VAR = "AETUI_CONFIG"

# the endings a notification can be sent on (`[notify] on`); "group": one message when a
# whole grid or --after chain has ended, instead of one per job
NOTIFY_EVENTS = tuple(str(e) for e in NoticeEvent)
BELLS = ("off", "bell", "osc9")


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    return value


def _number(low: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < low:
            raise ValueError(f"must be a number, at least {low:g}")
        return float(value)
    return check


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError("must be a whole number, at least 1")
    return value


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError("must be a list of non-empty strings")
    return list(value)


def _events(value: Any) -> list[str]:
    events = _strings(value)
    unknown = [e for e in events if e not in NOTIFY_EVENTS]
    if unknown:
        raise ValueError(f"unknown ending {unknown[0]!r}: use {', '.join(NOTIFY_EVENTS)}")
    return events


def _choice(*choices: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value
    return check


@dataclass(frozen=True)
class Key:
    check: Callable[[Any], Any]  # the file's value -> the value, or ValueError saying what is wrong
    env: str | None = None  # the environment variable that overrides the file
    default: Any = None  # None: decided elsewhere (e.g. <home>/aetui.db), said by `default_text`
    default_text: str = ""
    help: str = ""


# Every key the file may hold ("section.key" for a table). The worker's defaults are its
# options' own (`aetui.worker.defaults`). A default of None is decided elsewhere (`default_text`).
KEYS: dict[str, Key] = {
    "home": Key(_text, "AETUI_HOME", None, "$XDG_DATA_HOME/aetui (~/.local/share/aetui)", "aetui's home folder"),
    "db": Key(_text, "AETUI_DB", None, "<home>/aetui.db", "the store: a SQLite file or an SQLAlchemy URL (PostgreSQL)"),
    "runs_root": Key(_text, "AETUI_RUNS_ROOT", None, "<home>/runs", "folder of the run folders"),
    "device": Key(_text, "AETUI_DEVICE", None, "every device", "`aetui worker --devices`, e.g. cuda:0,cuda:1"),
    "graphics": Key(_choice("auto", "kitty", "sixel", "halfblock"), "AETUI_GRAPHICS", "auto", "",
                    "the dashboard's image drawing"),
    "worker.poll": Key(_number(0.01), None, worker_defaults.POLL_S, "", "`aetui worker --poll`"),
    "worker.grace": Key(_number(0), None, worker_defaults.CANCEL_GRACE_S, "", "`aetui worker --grace`"),
    "worker.per_device": Key(_count, None, 1, "", "`aetui worker --per-device`"),
    "worker.stall_timeout": Key(_number(0), None, worker_defaults.STALL_S, "", "`aetui worker --stall-timeout`"),
    "worker.reserve_after": Key(_number(0), None, worker_defaults.RESERVE_AFTER_S, "",
                                "`aetui worker --reserve-after`"),
    "notify.on": Key(_events, None, [str(e) for e in (NoticeEvent.DONE, NoticeEvent.FAILED, NoticeEvent.STALLED,
                                                        NoticeEvent.GROUP)], "",
                     f"endings that send a message: {', '.join(NOTIFY_EVENTS)}"),
    "notify.command": Key(_text, "AETUI_NOTIFY_COMMAND", None, "none",
                          "shell command run on each message, with AETUI_* variables in its environment"),
    "notify.urls": Key(_strings, None, [], "", "apprise URLs (pip install 'aetui[notify]')"),
    "notify.timeout": Key(_number(0.1), None, 30.0, "", "seconds one channel may take to send, then it is stopped"),
    "notify.bell": Key(_choice(*BELLS), None, "off", "",
                       "the dashboard rings when a job ends: off, bell (BEL) or osc9 (a desktop notice)"),
}
SECRET_KEYS = ("db", "notify.urls", "notify.command")  # may hold passwords or tokens: printed redacted


@dataclass(frozen=True)
class Setting:
    value: Any
    source: str  # "flag", "env AETUI_HOME", "file /path/config.toml" or "default"


def path() -> Path:
    """The config file in use: `$AETUI_CONFIG`, else `$XDG_CONFIG_HOME/aetui/config.toml`
    (`~/.config/aetui/config.toml`)."""
    given = os.environ.get(CONFIG_VAR)
    if given:
        return Path(given).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(xdg) / "aetui" / "config.toml"


_cache: dict[tuple, dict[str, Any]] = {}


def load() -> dict[str, Any]:
    """The file's checked values by key ("notify.on"), {} with no file. Read once per
    process and file version; `UserError` (one line: file, key, problem) for a bad file."""
    file = path()
    try:
        st = file.stat()
    except FileNotFoundError:
        if os.environ.get(CONFIG_VAR):
            raise UserError(f"config file {file} (${CONFIG_VAR}): no such file") from None
        return {}
    except OSError as e:
        raise UserError(f"config file {file}: {e.strerror or e}") from None
    stamp = (str(file), st.st_mtime_ns, st.st_size, st.st_ino)
    if stamp not in _cache:
        _cache.clear()
        _cache[stamp] = _parse(file)
    return _cache[stamp]


def _parse(file: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise UserError(f"config file {file}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"config file {file}: not valid TOML: {e}") from None
    except OSError as e:
        raise UserError(f"config file {file}: {e.strerror or e}") from None
    values: dict[str, Any] = {}
    try:
        flat = list(_flatten(data))
    except ValueError as e:
        raise UserError(f"config file {file}: key {e}") from None
    for name, value in flat:
        key = KEYS.get(name)
        if key is None:
            raise UserError(f"config file {file}: unknown key {name!r} (known: {', '.join(KEYS)})")
        try:
            values[name] = key.check(value)
        except ValueError as e:
            raise UserError(f"config file {file}: key {name!r}: {e} (got {value!r:.80})") from None
    return values


def _flatten(data: dict[str, Any], prefix: str = ""):
    sections = {k.rpartition(".")[0] for k in KEYS if "." in k}
    for name, value in data.items():
        dotted = f"{prefix}{name}"
        if dotted in sections:
            if not isinstance(value, dict):
                raise ValueError(f"{dotted!r} must be a table ([{dotted}]), not {type(value).__name__}")
            yield from _flatten(value, f"{dotted}.")
        else:
            yield dotted, value


def resolve(name: str, flag: Any = None) -> Setting:
    """`name`'s value and its source: `flag` when given (not None), else its environment
    variable, else the config file, else the default."""
    key = KEYS[name]
    if flag is not None:
        return Setting(flag, "flag")
    if key.env and os.environ.get(key.env) is not None:  # set, even empty (callers say what "" means)
        return Setting(os.environ[key.env], f"env {key.env}")
    values = load()
    if name in values:
        return Setting(values[name], f"file {path()}")
    return Setting(key.default, "default")


def value(name: str, flag: Any = None) -> Any:
    return resolve(name, flag).value


def effective() -> dict[str, Setting]:
    """Every key, resolved without flags (what a command gets when it is given none)."""
    return {name: resolve(name) for name in KEYS}


def redact(text: str) -> str:
    """`text` with what may be a secret replaced by `***`, so it can go to a log, `show`,
    `aetui config` or a report. In an apprise or webhook URL the token may be anywhere
    after the scheme (`slack://TokenA/TokenB`, `ntfy://topic`, `https://hooks.../T/B/X`):
    only the scheme stays. A store URL keeps its user, host and database, not its password."""
    import re

    def one(m: re.Match) -> str:
        scheme, rest = m.group(1), m.group(2)
        if "sql" in scheme.lower():  # postgresql+psycopg://user:password@host/db
            return f"{scheme}://" + re.sub(r"^([^/@:]*):[^/@]*@", r"\1:***@", rest)
        return f"{scheme}://***"

    return re.sub(r"\b([A-Za-z][A-Za-z0-9+.-]*)://([^\s'\"]+)", one, text)
