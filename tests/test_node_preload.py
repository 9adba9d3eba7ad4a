"""Unmodified Node programs calling https://api.openai.com under `openai-fake exec` (no `--base-url`).

The preload (`proxy_addon/node/preload.mjs`, given by NODE_OPTIONS) sends their fetch and
node:https traffic through the fake; without it Node 20 fails with ENOTFOUND (or, online,
reaches the real API). Needs node, and openai-node in tests/node for the SDK program.
"""

from __future__ import annotations

import json
import zipfile
import subprocess
import sys

import pytest

from conftest import ROOT, have, run_cli

NODE_DIR = ROOT / "tests" / "node"

pytestmark = [pytest.mark.node, pytest.mark.slow]


@pytest.fixture
def node():
    if not have("node"):
        pytest.skip("node not on PATH")


def _exec(tmp_path, program: str, profile=None, **env) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run `program` under exec (with `profile`, a file, if given); its result and the calls the fake journaled."""
    base = {"OPENAI_BASE_URL": "", "NODE_OPTIONS": "", **env}
    chosen = ["--profile", str(profile)] if profile else []
    result = run_cli("exec", "--confdir", str(tmp_path), *chosen, "--", "node", str(NODE_DIR / program), env=base,
                     timeout=120)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    lines = (tmp_path / "journal.jsonl").read_text().splitlines()
    calls = [c for c in map(json.loads, lines) if c["kind"] == "call"]
    return result, calls


def _summary(result) -> str:
    return result.stderr.strip().splitlines()[-1]


def test_openai_node_sdk_default_base_url(node, tmp_path):
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.skip("openai-node not installed: run `npm install --no-package-lock` in tests/node")
    result, calls = _exec(tmp_path, "preload_sdk.mjs")
    assert "chat chat.completion true" in result.stdout and "stream true" in result.stdout
    assert _summary(result) == "openai-fake: 2 calls (2×200); chat.completions 2"
    assert [(c["host"], c["face"]) for c in calls] == [("api.openai.com", "proxy")] * 2


def test_bare_fetch(node, tmp_path):
    result, calls = _exec(tmp_path, "preload_fetch.mjs")
    # The response keeps its URL: the request went through the proxy, not to a rewritten address.
    assert "fetch 200 https://api.openai.com/v1/models list" in result.stdout
    assert _summary(result) == "openai-fake: 1 call (1×200); models 1"
    assert calls[0]["face"] == "proxy" and calls[0]["path"] == "/v1/models"


def test_node_https_request(node, tmp_path):
    result, calls = _exec(tmp_path, "preload_https.mjs")
    assert "https 200 list" in result.stdout
    assert [(c["host"], c["face"]) for c in calls] == [("api.openai.com", "proxy")]


def test_commonjs_program_and_regional_host(node, tmp_path):
    result, calls = _exec(tmp_path, "preload_cjs.cjs")
    assert "https.get 200 list" in result.stdout and "fetch 200 list" in result.stdout
    assert sorted(c["host"] for c in calls) == ["api.openai.com", "eu.api.openai.com."]  # the trailing dot as sent


def test_custom_dispatchers_agents_and_raw_tls_do_not_escape(node, tmp_path):
    result, calls = _exec(tmp_path, "preload_escapes.mjs")
    out = result.stdout
    assert "own dispatcher 200" in out and "own agent 200" in out
    assert "raw tls openai-fake: refused a TLS connection to api.openai.com" in out
    assert "other host 200" in out
    # Two tunnelled calls; the plain-HTTP call to the fake's own address went there untouched.
    assert [c["face"] for c in calls] == ["proxy", "proxy", "base-url"]


def test_inherited_node_options_are_kept(node, tmp_path):
    result, _ = _exec(tmp_path, "preload_fetch.mjs", NODE_OPTIONS="--max-old-space-size=200")
    assert "fetch 200" in result.stdout


def test_preload_is_inert_without_the_fake(node, tmp_path):
    from proxy_addon.runner import NODE_PRELOAD

    script = "console.log(typeof globalThis[Symbol.for('openai-fake.preload')])"
    done = subprocess.run(["node", f"--import={NODE_PRELOAD.as_uri()}", "-e", script], capture_output=True, text=True,
                          env={"PATH": __import__("os").environ["PATH"]}, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "undefined", done.stderr


def test_the_wheel_ships_the_preload(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("openai_fake-*.whl"))
    assert "proxy_addon/node/preload.mjs" in zipfile.ZipFile(wheel).namelist()


def test_node_options_appends_once_and_survives_spaces(node, tmp_path):
    import os
    import shutil

    from proxy_addon import runner

    flag = runner.node_options(None)
    assert runner.node_options("--max-old-space-size=200") == f"--max-old-space-size=200 {flag}"
    assert runner.node_options(f"--trace-warnings {flag}") == f"--trace-warnings {flag}"
    # An install path with a space: the file URL percent-encodes it, so NODE_OPTIONS needs no quotes.
    spaced = tmp_path / "a dir" / "preload.mjs"
    spaced.parent.mkdir()
    shutil.copy(runner.NODE_PRELOAD, spaced)
    script = "console.log(globalThis[Symbol.for('openai-fake.preload')])"
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, timeout=30,
                          env={"PATH": os.environ["PATH"], "NODE_OPTIONS": f"--import={spaced.as_uri()}",
                               "OPENAI_FAKE_PROXY": "http://127.0.0.1:9"})
    assert done.returncode == 0 and done.stdout.strip() == "true", done.stderr


def test_azure_and_registered_hosts(node, tmp_path):
    """Azure OpenAI's hosts and the profile's own (`profile.host`, given to Node as OPENAI_FAKE_HOSTS)
    are tunnelled through the fake too; without it, these names don't resolve here."""
    profile = tmp_path / "hosts_profile.py"
    profile.write_text(
        "from openai_fake import Profile\n"
        "profile = Profile()\n"
        "profile.host('api.weather.example').get('/forecast', answer={'city': 'Oslo', 'sky': 'clear'})\n"
        "profile.host('*.data.example').get('/status', answer={'ok': True})\n")
    result, calls = _exec(tmp_path, "preload_hosts.mjs", profile=profile)
    out = result.stdout
    assert "azure 200 chat.completion my-gpt" in out
    assert 'weather fetch 200 {"city":"Oslo","sky":"clear"}' in out
    assert 'data https 200 {"ok":true}' in out
    assert sorted(c["host"] for c in calls) == ["api.weather.example", "contoso.openai.azure.com", "eu.data.example"]
    assert {c["face"] for c in calls} == {"proxy"}

