"""What `exec` and `env` do with a real key they inherit: a fake one takes its place, unless `--keep-key`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import openai_fake_cmd, run_cli

REAL = "sk-proj-REALLOOKING0123456789abcdefghijklmnopqrstuvwxyz"
SHOW = "import json, os; print(json.dumps({k: os.environ.get(k) for k in ['OPENAI_API_KEY', 'OPENAI_ADMIN_KEY']}))"


def _exec(tmp_path, *flags, **env):
    done = run_cli("exec", "--confdir", str(tmp_path), *flags, "--", sys.executable, "-c", SHOW, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr


def test_exec_replaces_an_inherited_key_and_says_so(tmp_path):
    seen, stderr = _exec(tmp_path, OPENAI_API_KEY=REAL, OPENAI_ADMIN_KEY="sk-admin-REAL")
    assert seen == {"OPENAI_API_KEY": "sk-openai-fake-dummy-key", "OPENAI_ADMIN_KEY": "sk-openai-fake-dummy-key"}
    assert "OPENAI_API_KEY and OPENAI_ADMIN_KEY replaced by a fake key" in stderr and REAL not in stderr


def test_exec_keep_key_passes_it_through(tmp_path):
    seen, stderr = _exec(tmp_path, "--keep-key", OPENAI_API_KEY=REAL)
    assert seen["OPENAI_API_KEY"] == REAL and "replaced" not in stderr


def test_exec_without_a_key_gives_the_fake_one_quietly(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_ADMIN_KEY")}
    done = subprocess.run([*openai_fake_cmd(), "exec", "--confdir", str(tmp_path), "--", sys.executable, "-c", SHOW],
                          capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(done.stdout) == {"OPENAI_API_KEY": "sk-openai-fake-dummy-key", "OPENAI_ADMIN_KEY": None}
    assert "replaced" not in done.stderr


def test_env_prints_the_fake_key_unless_keep_key(tmp_path):
    run = subprocess.Popen([*openai_fake_cmd(), "run", "--port", "0", "--confdir", str(tmp_path)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        from conftest import wait_for

        assert wait_for(lambda: (tmp_path / "running.json").exists(), 30)
        lines = run_cli("env", "--confdir", str(tmp_path), env={"OPENAI_API_KEY": REAL}).stdout.splitlines()
        assert "export OPENAI_API_KEY=sk-openai-fake-dummy-key" in lines and REAL not in "".join(lines)
        assert any(line.startswith("export NODE_OPTIONS=--import=file://") for line in lines)
        kept = run_cli("env", "--keep-key", "--confdir", str(tmp_path), env={"OPENAI_API_KEY": REAL}).stdout
        assert "OPENAI_API_KEY" not in kept
        fish = run_cli("env", "--shell", "fish", "--confdir", str(tmp_path)).stdout
        assert "set -gx OPENAI_API_KEY sk-openai-fake-dummy-key" in fish
    finally:
        run.terminate()
        run.wait(10)
