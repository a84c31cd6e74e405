"""The config file (`aetui.config`): flag > environment > file > default, each value with
its source; a bad file is one line naming the file, the key and the problem (exit 2)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import aetui


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    monkeypatch.setenv("AETUI_CONFIG", str(path))
    return path


def test_flag_beats_env_beats_file_beats_default(config_file, tmp_path, monkeypatch):
    from aetui import config
    from aetui.home import Home

    monkeypatch.delenv("AETUI_HOME", raising=False)
    monkeypatch.delenv("AETUI_DB", raising=False)
    monkeypatch.delenv("AETUI_RUNS_ROOT", raising=False)
    config_file.write_text(f'home = "{tmp_path / "from-file"}"\nruns_root = "{tmp_path / "runs-file"}"\n'
                           '[notify]\non = ["failed"]\n')
    assert config.resolve("home") == config.Setting(str(tmp_path / "from-file"), f"file {config_file}")
    assert Home.resolve().path == tmp_path / "from-file"
    assert Home.resolve().runs == tmp_path / "runs-file"
    assert Home.resolve().db_url == str(tmp_path / "from-file" / "aetui.db")
    monkeypatch.setenv("AETUI_HOME", str(tmp_path / "from-env"))
    assert config.resolve("home").source == "env AETUI_HOME"
    assert Home.resolve().path == tmp_path / "from-env"
    assert Home.resolve(tmp_path / "from-flag").path == tmp_path / "from-flag"
    assert config.resolve("home", "x").source == "flag"
    assert config.resolve("notify.on").value == ["failed"]
    assert config.resolve("graphics") == config.Setting("auto", "default")
    config_file.write_text('graphics = "sixel"\n')  # a changed file is read again
    assert config.resolve("graphics").value == "sixel" and config.resolve("home").source == "env AETUI_HOME"


def test_aetui_config_says_where_each_value_came_from(config_file, home):
    config_file.write_text('db = "postgresql://bob:hunter2@db.lab/aetui"\n[worker]\npoll = 0.5\n'
                           '[notify]\nurls = ["ntfy://my-secret-topic"]\n')
    out = aetui(home, "config", "--json").stdout
    got = json.loads(out)["settings"]
    assert got["worker.poll"] == {"value": 0.5, "source": f"file {config_file}"}
    assert got["graphics"] == {"value": "auto", "source": "default"}
    assert got["home"]["source"] == "env AETUI_HOME"  # the test's home
    assert json.loads(aetui(home, "--home", "/x", "config", "--json").stdout)["settings"]["home"] == \
        {"value": "/x", "source": "flag"}
    assert got["worker.grace"]["source"] == "default"
    assert got["db"]["value"] == "postgresql://bob:***@db.lab/aetui" and got["notify.urls"]["value"] == ["ntfy://***"]
    text = aetui(home, "config").stdout
    assert "hunter2" not in text + out and "my-secret-topic" not in text + out
    assert f"worker.poll           0.5  [file {config_file}]" in text


def test_worker_settings_come_from_the_file_unless_a_flag_is_given(config_file, home):
    config_file.write_text("[worker]\nper_device = 3\n")
    assert "(3 jobs each)" in aetui(home, "worker", "--until-empty", "--devices", "cpu").stdout
    assert "jobs each" not in aetui(home, "worker", "--until-empty", "--devices", "cpu", "--per-device", "1").stdout


@pytest.mark.parametrize("text, says", [
    ("home = \n", "not valid TOML"),
    ("hme = '/x'\n", "unknown key 'hme'"),
    ("notify = 3\n", "'notify' must be a table ([notify])"),
    ("[notify]\non = ['done', 'finished']\n", "key 'notify.on': unknown ending 'finished'"),
    ("[worker]\npoll = -1\n", "key 'worker.poll': must be a number"),
    ("graphics = 'ascii'\n", "key 'graphics': must be one of auto, kitty, sixel, halfblock"),
])
def test_a_bad_config_file_is_one_line_and_exit_2(config_file, home, text, says):
    config_file.write_text(text)
    result = aetui(home, "runs", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"aetui: error: config file {config_file}: ") and says in line, line


def test_a_missing_aetui_config_file_is_said(config_file, home):
    result = aetui(home, "config", check=False)
    assert result.returncode == 2 and f"config file {config_file} ($AETUI_CONFIG): no such file" in result.stderr


def test_the_config_page_quotes_every_default():
    """docs/config.md's example file holds the worker's and notifications' settings at
    their defaults, so a change shows up here."""
    from aetui import config
    from tests.conftest import ROOT

    page = (ROOT / "docs" / "config.md").read_text()
    for name, key in config.KEYS.items():
        if name.startswith("worker.") or name in ("notify.on", "notify.timeout", "notify.bell"):
            shown = json.dumps(key.default) if isinstance(key.default, (list, str)) else repr(key.default)
            assert f"\n{name.rpartition('.')[2]} = {shown}" in page, name
