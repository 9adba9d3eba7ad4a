"""The real `openai-fake` command, run as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap

import pytest
import requests

from conftest import openai_fake_cmd, read_until, run_cli

APP = textwrap.dedent("""
    import os, openai
    client = openai.OpenAI()  # default max_retries=2, key and proxy from the environment
    answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    print("ANSWER", answer.choices[0].message.content)
    print("KEY", os.environ["OPENAI_API_KEY"])
""")


@pytest.fixture
def app(tmp_path):
    path = tmp_path / "my_app.py"
    path.write_text(APP)
    return path


def test_exec_runs_an_unmodified_app_against_the_flaky_profile(app, tmp_path):
    done = run_cli("exec", "--profile", "flaky", "--confdir", str(tmp_path / "conf"), "--", sys.executable, str(app))
    assert done.returncode == 0, done.stderr
    assert "ANSWER This is a fake answer" in done.stdout
    # flaky: two 429s, then the SDK's third try succeeds
    assert "openai-fake: 3 calls (1×200, 2×429); chat.completions 3" in done.stderr


def test_exec_sets_the_environment_and_a_dummy_key(tmp_path):
    script = "import json, os; print(json.dumps({k: os.environ.get(k) for k in ['HTTPS_PROXY', 'SSL_CERT_FILE', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'NODE_EXTRA_CA_CERTS', 'OPENAI_API_KEY', 'OPENAI_BASE_URL', 'OPENAI_API_BASE']}))"
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_API_BASE")}
    done = subprocess.run([*openai_fake_cmd(), "exec", "--confdir", str(tmp_path), "--", sys.executable, "-c", script],
                          capture_output=True, text=True, env=env, timeout=60)
    seen = json.loads(done.stdout)
    assert seen["HTTPS_PROXY"].startswith("http://127.0.0.1:")
    bundle = seen["SSL_CERT_FILE"]
    assert bundle == seen["REQUESTS_CA_BUNDLE"] == seen["CURL_CA_BUNDLE"] == str(tmp_path / "openai-fake-bundle.pem")
    assert seen["NODE_EXTRA_CA_CERTS"] == str(tmp_path / "mitmproxy-ca-cert.pem")
    assert seen["OPENAI_API_KEY"].startswith("sk-") and seen["OPENAI_BASE_URL"] is None
    # With --base-url the child is sent to the base-URL face's own port (not the proxy's), and it answers there.
    call = "; import openai; print('MODEL', openai.OpenAI().models.retrieve('gpt-4o').id)"
    with_base = run_cli("exec", "--base-url", "--keep-key", "--confdir", str(tmp_path), "--", sys.executable, "-c",
                        script + call, env={"OPENAI_API_KEY": "sk-mine"})
    assert with_base.returncode == 0, with_base.stderr
    seen = json.loads(with_base.stdout.splitlines()[0])
    proxy_port = int(seen["HTTPS_PROXY"].rsplit(":", 1)[1])
    assert seen["OPENAI_BASE_URL"].startswith("http://127.0.0.1:") and seen["OPENAI_BASE_URL"].endswith("/v1")
    assert int(seen["OPENAI_BASE_URL"].rsplit(":", 1)[1].split("/")[0]) != proxy_port
    assert seen["OPENAI_API_KEY"] == "sk-mine" and "MODEL gpt-4o" in with_base.stdout
    assert seen["OPENAI_API_BASE"] == seen["OPENAI_BASE_URL"]  # llama-index and older langchain read this one


def test_exec_exits_with_the_commands_code(tmp_path):
    assert run_cli("exec", "--confdir", str(tmp_path), "--", sys.executable, "-c", "import sys; sys.exit(7)").returncode == 7
    missing = run_cli("exec", "--confdir", str(tmp_path), "--", "no-such-command-here")
    assert missing.returncode == 127 and "command not found: no-such-command-here" in missing.stderr


def test_exec_with_a_broken_profile_never_starts(tmp_path, app):
    bad = tmp_path / "bad.py"
    bad.write_text("from proxy_addon import Profile\nprofile = Profile()\nprofile.chat.completion(choices=[])\n")
    done = run_cli("exec", "--profile", str(bad), "--confdir", str(tmp_path), "--", sys.executable, str(app))
    assert done.returncode == 2
    assert f"{bad}:3" in done.stderr and "unknown route name 'chat.completion'" in done.stderr
    assert "ANSWER" not in done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]




def test_run_prints_the_panel_and_a_line_per_call_and_stops_cleanly_on_ctrl_c(tmp_path):
    port, base_port = _free_port(), _free_port()
    proc = subprocess.Popen([*openai_fake_cmd(), "run", "--port", str(port), "--base-url-port", str(base_port),
                             "--confdir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    try:
        panel = read_until(proc, "OPENAI_BASE_URL")
        assert f"http://127.0.0.1:{base_port}/v1" in panel and "mitmproxy-ca-cert.pem" in panel
        assert f"export HTTPS_PROXY='http://127.0.0.1:{port}'" in panel
        env_lines = run_cli("env", "--confdir", str(tmp_path))
        assert env_lines.returncode == 0 and f"export HTTPS_PROXY='http://127.0.0.1:{port}'" in env_lines.stdout
        fish = run_cli("env", "--shell", "fish", "--base-url", "--confdir", str(tmp_path)).stdout
        assert f"set -gx OPENAI_BASE_URL 'http://127.0.0.1:{base_port}/v1'" in fish
        assert f"set -gx OPENAI_API_BASE 'http://127.0.0.1:{base_port}/v1'" in fish
        assert requests.get(f"http://127.0.0.1:{base_port}/v1/models/gpt-4o", headers={"Authorization": "Bearer sk-x"},
                            proxies={"http": None}).json()["id"] == "gpt-4o"
        assert "200  GET /v1/models/gpt-4o  models" in read_until(proc, "/v1/models/gpt-4o")
        reply = requests.get("https://api.openai.com/v1/models/gpt-4o", headers={"Authorization": "Bearer sk-x"},
                             proxies={"https": f"http://127.0.0.1:{port}"}, verify=str(tmp_path / "openai-fake-bundle.pem"))
        assert reply.json()["id"] == "gpt-4o"
        assert "200  GET /v1/models/gpt-4o  models" in read_until(proc, "/v1/models/gpt-4o")
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "openai-fake: 2 calls (2×200)" in err
    assert not (tmp_path / "running.json").exists()
    gone = run_cli("env", "--confdir", str(tmp_path))
    assert gone.returncode == 1 and "no openai-fake is running" in gone.stderr


def test_run_with_a_broken_profile_stops_before_listening(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("from proxy_addon import Profile\n\nprofile = Profile(latency=-1)\n")
    port = _free_port()
    done = run_cli("run", "--profile", str(bad), "--port", str(port), "--confdir", str(tmp_path), timeout=30)
    assert done.returncode == 2 and f"{bad}:3" in done.stderr and "latency" in done.stderr
    assert "is running" not in done.stdout


def test_run_on_a_busy_port_says_so(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = run_cli("run", "--port", str(busy.getsockname()[1]), "--confdir", str(tmp_path), timeout=30)
    assert done.returncode == 1 and "cannot listen on 127.0.0.1" in done.stderr and "Traceback" not in done.stderr


def test_cert_path_bundle_and_a_private_key(tmp_path):
    cert = run_cli("cert", "path", "--confdir", str(tmp_path)).stdout.strip()
    assert cert == str(tmp_path / "mitmproxy-ca-cert.pem") and "BEGIN CERTIFICATE" in open(cert).read()
    key = tmp_path / "mitmproxy-ca.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    bundle = run_cli("cert", "bundle", "--confdir", str(tmp_path)).stdout.strip()
    text = open(bundle).read()
    assert open(cert).read().strip() in text
    assert text.count("BEGIN CERTIFICATE") > 10  # the system CAs are there too
    dry = run_cli("cert", "install", "--dry-run", "--confdir", str(tmp_path))
    assert dry.returncode == 0 and "update-ca-certificates" in dry.stdout


def test_profiles_list_and_check(tmp_path):
    listing = run_cli("profiles")
    assert listing.returncode == 0
    for name in ("default", "flaky", "slow", "slow_stream", "broken_stream"):
        assert name in listing.stdout
    assert run_cli("profiles", "check", "flaky").returncode == 0
    bad = tmp_path / "bad.py"
    bad.write_text("from proxy_addon import Profile\nprofile = Profile()\nprofile.embeddings(vector=[1])\n")
    checked = run_cli("profiles", "check", str(bad))
    assert checked.returncode == 1 and f"{bad}:3" in checked.stderr and "unknown knob 'vector'" in checked.stderr


def test_exec_keeps_no_proxy_from_sending_openai_around_the_fake(tmp_path):
    script = "import os; print(os.environ.get('NO_PROXY')); print(os.environ.get('no_proxy'))"
    done = run_cli("exec", "--confdir", str(tmp_path), "--", sys.executable, "-c", script,
                   env={"NO_PROXY": "localhost,.openai.com,internal.example", "no_proxy": "*"})
    assert done.stdout.splitlines() == ["localhost,internal.example", ""]


def test_run_quiet_prints_the_panel_but_no_call_lines(tmp_path):
    proc = subprocess.Popen([*openai_fake_cmd(), "run", "--quiet", "--port", "0", "--confdir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    try:
        panel = read_until(proc, "OPENAI_BASE_URL=")
        base_url = panel.split("OPENAI_BASE_URL=")[-1].strip()
        assert requests.get(f"{base_url}/models", headers={"Authorization": "Bearer sk-x"}).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "/v1/models" not in out
    assert "openai-fake: 1 call (1×200); models 1" in err
