"""The real openai-node SDK (tests/node) run under `openai-fake exec --base-url`.

Needs node, npm and `npm install` done in tests/node (see tests/node/package.json).
"""

from __future__ import annotations

import pytest

from conftest import ROOT, have, run_cli

NODE_DIR = ROOT / "tests" / "node"

pytestmark = [pytest.mark.node, pytest.mark.slow]


@pytest.fixture
def node_sdk():
    if not (have("node") and have("npm")):
        pytest.skip("node/npm not on PATH")
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.skip("openai-node not installed: run `npm install --no-package-lock` in tests/node")


def test_openai_node_sdk_through_base_url(node_sdk, tmp_path):
    result = run_cli(
        "exec", "--confdir", str(tmp_path), "--base-url", "--",
        "node", str(NODE_DIR / "sdk_check.mjs"),
        timeout=120,
    )
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "all checks passed" in result.stdout
    summary = result.stderr.strip().splitlines()[-1]
    # list + retrieve + unknown retrieve all count under the "models" rule.
    assert summary == "openai-fake: 10 calls (9×200, 1×404); chat.completions 3, models 3, responses 3, embeddings 1", summary


def test_openai_node_sdk_runs_a_batch_and_a_fine_tuning_job(node_sdk, tmp_path):
    result = run_cli("exec", "--confdir", str(tmp_path), "--base-url", "--",
                     "node", str(NODE_DIR / "batch_check.mjs"), timeout=120)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "all checks passed" in result.stdout


def test_openai_node_structured_outputs_parse_with_zod(node_sdk, tmp_path):
    """zod's own parse accepts the default answers to zodResponseFormat, zodTextFormat and a forced zodFunction."""
    if not (NODE_DIR / "node_modules" / "zod").is_dir():
        pytest.skip("zod not installed: run `npm install --no-package-lock` in tests/node")
    result = run_cli("exec", "--confdir", str(tmp_path), "--base-url", "--",
                     "node", str(NODE_DIR / "structured_check.mjs"), timeout=120)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "all checks passed" in result.stdout


def test_openai_node_sdk_is_recorded_then_replayed_with_the_upstream_gone(node_sdk, tmp_path):
    """`exec --record` through the proxy (the Node preload), then `exec --replay`: the same answers, fresh ids."""
    import json

    from proxy_addon import Profile
    from proxy_addon.runner import Runner

    script, recording = str(NODE_DIR / "record_replay.mjs"), tmp_path / "recording"
    key = {"OPENAI_API_KEY": "sk-proj-NodeRecordReplayKey0123456789abcd"}
    with Runner(Profile(), port=0, confdir=tmp_path / "upstream", warm=False) as upstream:
        recorded = run_cli("exec", "--confdir", str(tmp_path / "conf"), "--record", str(recording), "--upstream",
                           upstream.base_url_origin, "--", "node", script, env=key, timeout=120)
        assert recorded.returncode == 0, f"stdout:\n{recorded.stdout}\nstderr:\n{recorded.stderr}"
        assert sum(e.kind == "call" for e in upstream.journal.entries()) == 4
    replayed = run_cli("exec", "--confdir", str(tmp_path / "conf"), "--replay", str(recording), "--replay-speed", "0",
                       "--", "node", script, timeout=120)
    assert replayed.returncode == 0, f"stdout:\n{replayed.stdout}\nstderr:\n{replayed.stderr}"
    before, after = json.loads(recorded.stdout), json.loads(replayed.stdout)
    assert before["chained"] and after["chained"]
    assert {k: after[k] for k in ("chat", "streamed", "chain")} == {k: before[k] for k in ("chat", "streamed", "chain")}
    assert before["chat"] and before["streamed"] == before["chat"]
    assert after["firstId"] != before["firstId"] and after["chatId"] != before["chatId"]  # fresh ids
    assert len(list(recording.glob("*.json"))) == 4
    for path in recording.iterdir():
        assert key["OPENAI_API_KEY"][8:].encode() not in path.read_bytes()
