"""The bootstrap's light install: only requirements-light.txt when an engine URL is set (or on musl
for tasks), and a full environment still counts as ready for a light plugin."""

from __future__ import annotations

from test_plugin_bootstrap import boot, fake_venv


def _plugin(folder):
    folder.mkdir()
    (folder / "requirements.txt").write_text("requests\nnumpy\n")
    (folder / "requirements-nodeps.txt").write_text("insightface==2.1\n")
    (folder / "requirements-light.txt").write_text("requests\n")
    return folder


def test_light_install_commands_take_only_the_light_requirements(tmp_path):
    plugin = _plugin(tmp_path / "plugin")
    commands = boot.install_commands(tmp_path / "venv", plugin, "/usr/bin/python3", light=True)
    assert len(commands) == 2 and commands[1][-2:] == ["-r", str(plugin / "requirements-light.txt")]
    assert all("--no-deps" not in c for c in commands)


def test_a_full_environment_serves_a_light_plugin_but_not_the_reverse(tmp_path):
    plugin = _plugin(tmp_path / "plugin")
    light_venv = fake_venv(tmp_path / "light")
    boot.write_stamp(light_venv, plugin, "", light=True)
    assert boot.satisfied(light_venv, plugin, "", light=True)
    assert not boot.satisfied(light_venv, plugin, "")  # engine URL cleared: the engine must be installed
    full_venv = fake_venv(tmp_path / "full")
    boot.write_stamp(full_venv, plugin, "")
    assert boot.satisfied(full_venv, plugin, "", light=True) and boot.satisfied(full_venv, plugin, "")


def test_an_engine_url_asks_for_the_light_side(monkeypatch):
    import sys

    plugin_input = {"_settings": {}}  # settings already read (Stash not asked here)
    monkeypatch.delenv("STASH_SENSE_ENGINE_URL", raising=False)
    assert boot.wants_light(plugin_input, sys.executable) is False  # this machine: glibc, no URL
    assert boot.wants_light({"_settings": {"engineUrl": "tcp://gpu:7860"}}, sys.executable) is True
    monkeypatch.setenv("STASH_SENSE_ENGINE_URL", "tcp://gpu:7860")
    assert boot.wants_light(plugin_input, sys.executable) is True
