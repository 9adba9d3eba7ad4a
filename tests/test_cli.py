"""The real `openai-fake` command, run as a subprocess."""

from __future__ import annotations

import json
import os
import re
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
        assert f"export HTTPS_PROXY=http://127.0.0.1:{port}" in panel
        env_lines = run_cli("env", "--confdir", str(tmp_path))
        assert env_lines.returncode == 0 and f"export HTTPS_PROXY=http://127.0.0.1:{port}" in env_lines.stdout
        fish = run_cli("env", "--shell", "fish", "--base-url", "--confdir", str(tmp_path)).stdout
        assert f"set -gx OPENAI_BASE_URL http://127.0.0.1:{base_port}/v1" in fish
        assert f"set -gx OPENAI_API_BASE http://127.0.0.1:{base_port}/v1" in fish
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
    assert gone.returncode == 1 and f"no openai-fake is running for the conf directory {tmp_path};" in gone.stderr


def test_run_with_a_broken_profile_stops_before_listening(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("from proxy_addon import Profile\n\nprofile = Profile(latency=-1)\n")
    port = _free_port()
    done = run_cli("run", "--profile", str(bad), "--port", str(port), "--confdir", str(tmp_path), timeout=30)
    assert done.returncode == 2 and f"{bad}:3" in done.stderr and "latency" in done.stderr
    assert "is running" not in done.stdout


def test_run_on_a_busy_port_says_so_in_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli("run", "--port", str(port), "--confdir", str(tmp_path), timeout=30)
    assert done.returncode == 1, done.stderr
    assert done.stderr == (f"error: cannot listen on 127.0.0.1:{port}: the port is in use; another program listens "
                           "there: `--port 0` picks a free port\n")


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
    assert checked.returncode == 2 and f"{bad}:3" in checked.stderr and "unknown knob 'vector'" in checked.stderr


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


# -- version and help screens -------------------------------------------------------------


def test_version_is_the_package_metadata_version():
    from importlib.metadata import version

    done = run_cli("--version")
    assert done.returncode == 0 and done.stdout == f"openai-fake {version('openai-fake')}\n" and done.stderr == ""


def _every_command():
    """(argv, click command) for the app, each group and each command, as typer builds them."""
    import typer.main

    from openai_fake_cli.main import app

    def walk(command, path):
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    return list(walk(typer.main.get_command(app), []))


@pytest.mark.parametrize("argv, command", _every_command(), ids=lambda x: " ".join(x) if isinstance(x, list) else "")
def test_every_help_screen_says_what_to_type_at_80_columns_in_a_pipe(argv, command):
    done = run_cli(*argv, "--help", env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for python_type in ("<bool>", "<str>", "<int", "<float", "<path>", "<list", "<dir>", "<file>", "x>=", "{"):
        assert python_type not in text, f"{python_type!r} in:\n{text}"
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "files ." not in text and "…" not in text
    # Examples, each on a line of its own, whole (not wrapped at 80 columns)
    assert command.epilog and "Examples" in text
    for example in command.epilog.split("\n")[1:]:
        if example and not example.startswith("Exit codes"):
            assert example.replace("\\[", "[") in text, f"{example!r} cut in:\n{text}"
    if "--confdir" in text:
        flat = " ".join(text.replace("│", " ").split())
        assert " DIR " in text and "[default: ($OPENAI_FAKE_CONFDIR, else ~/.openai-fake)]" in flat


def test_run_help_shows_metavars_and_defaults():
    text = run_cli("run", "--help", env={"COLUMNS": "120"}).stdout
    for option, metavar, default in [("--port", "PORT", "[default: 8080]"), ("--host", "ADDRESS", "[default: 127.0.0.1]"),
                                     ("--profile", "NAME|FILE", "[default: default]"), ("--state", "FILE", None),
                                     ("--max-request-size", "BYTES", "[default: (64 MiB)]"),
                                     ("--idle-timeout", "SECONDS", "[default: 60.0]")]:
        row = next(line for line in text.splitlines() if f" {option} " in line)
        assert metavar in row, row
        if default:
            assert default in text
    quiet = next(line for line in text.splitlines() if " --quiet " in line)
    assert re.search(r" -q +Print no line per call", quiet), quiet  # a flag shows no type
    usage = run_cli("exec", "--help", env={"COLUMNS": "120"}).stdout
    assert "Usage: openai-fake exec [OPTIONS] COMMAND..." in usage


# -- exit codes and the messages that say what to do ---------------------------------------------


BAD_KNOB = "from proxy_addon import Profile\nprofile = Profile()\nprofile.chat.completions(choice=[])\n"
BAD_PROFILE_KNOB = "from proxy_addon import Profile\nprofile = Profile(latancy=0.5)\n"


@pytest.mark.parametrize("argv, code, message", [
    (["run", "--confdir", "{dir}/conf", "--no-such-option"], 2, "No such option: --no-such-option"),
    (["run", "--confdir", "{dir}/conf", "--port", "eighty"], 2, "Invalid value for '--port'"),
    (["run", "--confdir", "{dir}/conf", "--profile", "flakey"], 2, "error: profile: no profile named 'flakey' (did you mean flaky?): "),
    (["exec", "--confdir", "{dir}/conf", "--profile", "flakey", "--", "true"], 2, "error: profile: no profile named 'flakey' (did you mean flaky?)"),
    (["profiles", "check", "flakey"], 2, "error: no profile named 'flakey' (did you mean flaky?)"),
    (["profiles", "check", "{dir}/knob.py"], 2,
     "error: {dir}/knob.py:3: TypeError: chat.completions() got an unknown knob 'choice' (did you mean choices?); "
     "it takes: latency, failures,"),
    (["profiles", "check", "{dir}/init_typo.py"], 2,
     "error: {dir}/init_typo.py:2: TypeError: Profile() got an unknown knob 'latancy' (did you mean latency?); "
     "it takes: latency, require_api_key, stream, validate_requests, webhook_timeout, webhook_backoff\n"),
    (["profiles", "check", "{dir}/knob.pyy"], 2, "error: {dir}/knob.pyy: no such profile file (did you mean knob.py?)"),
    (["run", "--confdir", "{dir}/conf", "--state", "/no/such/dir/s.json"], 2,
     "error: --state /no/such/dir/s.json: the directory /no/such/dir does not exist; create it, or give a FILE in a "
     "directory that does\n"),
    (["run", "--confdir", "{dir}/conf", "--state", "{dir}"], 2, "is a directory"),
    (["env", "--unset", "--base-url"], 2, "error: --unset takes no --base-url or --keep-key"),
    (["use", "--confdir", "{dir}/conf", "flaky"], 1, "error: no openai-fake is running for the conf directory {dir}/conf; start one with "
                          "`openai-fake run --confdir {dir}/conf`, or give the --confdir the running one was started with\n"),
    (["state", "--confdir", "{dir}/conf"], 1, "error: no openai-fake is running for the conf directory {dir}/conf;"),
    (["reset", "--confdir", "{dir}/conf"], 1, "error: no openai-fake is running for the conf directory {dir}/conf;"),
])
def test_exit_codes_and_messages(tmp_path, argv, code, message):
    (tmp_path / "knob.py").write_text(BAD_KNOB)
    (tmp_path / "init_typo.py").write_text(BAD_PROFILE_KNOB)
    argv = [a.format(dir=tmp_path) for a in argv]
    done = run_cli(*argv, timeout=30)
    assert done.returncode == code, done.stderr
    assert message.format(dir=tmp_path) in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    if message.endswith("\n"):  # the whole message: one line
        assert done.stderr.count("\n") == 1


def _script(path, text: str, mode: int = 0o755):
    path.write_bytes(text.encode())
    path.chmod(mode)
    return path


@pytest.mark.parametrize("name, make, code, message", [
    ("app.py", lambda p: _script(p, "print(1)\n", 0o644), 126,
     "cannot execute ./app.py: it is not executable; make it so (chmod +x ./app.py), or run it through "
     "`openai-fake exec -- python ./app.py`"),
    ("app.py", lambda p: _script(p, "#!/usr/bin/pyhton3\nprint(1)\n"), 126,
     "cannot execute ./app.py: its #! line names the interpreter /usr/bin/pyhton3, which does not exist; fix that line"),
    ("app.sh", lambda p: _script(p, "#!/bin/sh\r\necho hi\r\n"), 126,
     "cannot execute ./app.sh: its #! line ends with a Windows line ending (CR)"),
    ("app", lambda p: _script(p, "print(1)\n"), 126,
     "cannot execute ./app: it is neither a program this system runs nor a script with a #! line"),
    ("app", lambda p: p.mkdir(), 126, "cannot execute ./app: it is a directory"),
    ("app.py", lambda p: None, 127, "cannot execute ./app.py: no such file"),
])
def test_exec_says_why_a_command_cannot_run(tmp_path, name, make, code, message):
    make(tmp_path / name)
    done = run_cli("exec", "--confdir", str(tmp_path / "conf"), "--", f"./{name}", cwd=tmp_path)
    assert done.returncode == code, done.stderr
    assert done.stderr == f"error: {message}" + done.stderr.split(message, 1)[1]
    assert done.stderr.count("\n") == 1  # one line: no summary of a fake the command never used


def test_exec_names_a_script_in_this_directory_that_is_not_on_path(tmp_path):
    _script(tmp_path / "app.py", "#!/bin/sh\necho ok\n")
    done = run_cli("exec", "--confdir", str(tmp_path / "conf"), "--", "app.py", cwd=tmp_path)
    assert done.returncode == 127
    assert done.stderr == ("error: command not found: app.py (no such program on PATH; there is ./app.py in this "
                           "directory: run it as ./app.py)\n")


def test_exec_gives_130_when_ctrl_c_kills_its_command(tmp_path):
    done = run_cli("exec", "--confdir", str(tmp_path), "--", sys.executable, "-c",
                   "import os, signal; os.kill(os.getpid(), signal.SIGINT)")
    assert done.returncode == 130, done.stderr


# -- one run per conf directory -------------------------------------------------------------------------


def test_a_second_run_on_the_same_confdir_is_refused_and_a_dead_ones_file_is_not_in_the_way(tmp_path):
    from conftest import running_fake

    with running_fake(tmp_path) as (first, base_url):
        info = json.loads((tmp_path / "running.json").read_text())
        second = run_cli("run", "--port", "0", "--confdir", str(tmp_path), timeout=30)
        assert second.returncode == 1
        assert second.stderr == (
            f"error: an openai-fake is already running for the conf directory {tmp_path} (pid {first.pid}, proxy "
            f"{info['proxy_url']}, base URL {base_url}); stop it (Ctrl-C in its terminal, or kill {first.pid}), or "
            "give this one another --confdir\n")
        assert second.stdout == ""
        # the first one's run file is untouched: the wrappers still reach it
        assert json.loads((tmp_path / "running.json").read_text()) == info
        assert run_cli("state", "--confdir", str(tmp_path)).returncode == 0
    # A `run` killed outright leaves its run file behind; it is stale, and a new `run` takes its place.
    killed = subprocess.Popen([*openai_fake_cmd(), "run", "--port", "0", "--confdir", str(tmp_path)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    read_until(killed, "OPENAI_BASE_URL=")
    killed.kill()
    killed.communicate(timeout=20)
    assert json.loads((tmp_path / "running.json").read_text())["pid"] == killed.pid
    assert run_cli("state", "--confdir", str(tmp_path)).returncode == 1
    with running_fake(tmp_path) as (again, _):
        assert json.loads((tmp_path / "running.json").read_text())["pid"] == again.pid


# -- env, env --unset, and the quoting of every value ---------------------------------------------------------


REAL_KEY = "sk-proj-REAL0123456789abcdefghijklmnop"


def test_env_then_env_unset_puts_the_shell_back_as_it_was(tmp_path):
    from conftest import running_fake

    script = textwrap.dedent(f"""
        export OPENAI_API_KEY={REAL_KEY}
        export NO_PROXY='localhost,.openai.com'
        export NODE_OPTIONS='--max-old-space-size=100 --title="a b"'
        unset OPENAI_BASE_URL HTTPS_PROXY
        env | sort > before.txt
        eval "$(openai-fake env --base-url --confdir {tmp_path})" || exit 9
        echo "KEY=$OPENAI_API_KEY NO_PROXY=$NO_PROXY BASE=$OPENAI_BASE_URL"
        python -c "import openai; print('MODEL', openai.OpenAI().models.retrieve('gpt-4o').id)"
        eval "$(openai-fake env --confdir {tmp_path})" || exit 9
        echo "AGAIN BASE=${{OPENAI_BASE_URL-unset}} KEY=$OPENAI_API_KEY"
        eval "$(openai-fake env --unset)" || exit 9
        env | sort > after.txt
        openai-fake env --unset
    """)
    bin_dir = os.path.dirname(openai_fake_cmd()[0])
    with running_fake(tmp_path) as (_, base_url):
        done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                              env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"KEY=sk-openai-fake-dummy-key NO_PROXY=localhost BASE={base_url}"
    assert lines[1] == "MODEL gpt-4o"
    assert lines[2] == "AGAIN BASE=unset KEY=sk-openai-fake-dummy-key"  # a name no longer set is put back
    assert (tmp_path / "before.txt").read_text() == (tmp_path / "after.txt").read_text()
    assert "nothing to undo (OPENAI_FAKE_ENV is not set" in done.stderr


def test_env_never_prints_a_key_it_replaces(tmp_path):
    from conftest import running_fake

    with running_fake(tmp_path):
        shown = run_cli("env", "--confdir", str(tmp_path), env={"OPENAI_API_KEY": REAL_KEY}).stdout
        unset = run_cli("env", "--unset", env={"OPENAI_API_KEY": "sk-openai-fake-dummy-key",
                                               "OPENAI_FAKE_OLD_OPENAI_API_KEY": REAL_KEY,
                                               "OPENAI_FAKE_ENV": "OPENAI_API_KEY"}).stdout
    assert 'export OPENAI_FAKE_OLD_OPENAI_API_KEY="${OPENAI_API_KEY}"' in shown.splitlines()
    assert unset.splitlines() == ['export OPENAI_API_KEY="${OPENAI_FAKE_OLD_OPENAI_API_KEY}"',
                                  "unset OPENAI_FAKE_OLD_OPENAI_API_KEY", "unset OPENAI_FAKE_ENV"]
    assert REAL_KEY not in shown + unset


ODD = "it's a $HOME `x` \"q\" \\ value"


@pytest.mark.parametrize("shell, line", [
    ("sh", "export X='it'\"'\"'s a $HOME `x` \"q\" \\ value'"),
    ("fish", "set -gx X 'it\\'s a $HOME `x` \"q\" \\\\ value'"),
    ("powershell", "$env:X = 'it''s a $HOME `x` \"q\" \\ value'"),
])
def test_every_value_is_quoted_for_its_shell(shell, line):
    from openai_fake_cli.env import shell_lines

    assert shell_lines({"X": ODD, "P": "/plain/path"}, shell)[0] == line
    if shell == "sh":
        assert subprocess.run(["sh", "-c", f'{line}; printf %s "$X"'], capture_output=True, text=True).stdout == ODD


# -- output at 80 columns, into a pipe ------------------------------------------------------------------------


def test_run_prints_paths_whole_and_two_blocks_at_80_columns_in_a_pipe(tmp_path):
    confdir = tmp_path / "a-directory-with-a-rather-long-name" / "and-another-one-below-it" / "conf"
    profile = confdir.parent / "my_profile_with_a_long_name_that_goes_on.py"
    confdir.mkdir(parents=True)
    profile.write_text("from proxy_addon import Profile\nprofile = Profile()\n")
    proc = subprocess.Popen([*openai_fake_cmd(), "run", "--port", "0", "--profile", str(profile), "--confdir", str(confdir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "80"})
    try:
        shown = read_until(proc, "OPENAI_API_BASE=") + proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "…" not in shown
    lines = shown.splitlines()
    assert f"  CA certificate  {confdir}/mitmproxy-ca-cert.pem" in lines
    assert f"  CA bundle       {confdir}/openai-fake-bundle.pem" in lines
    assert f"  Profile         {profile.stem} ({profile})" in lines
    proxy_block, base_url_block = shown.split("\n# Or, for clients that ignore proxies")
    assert f'eval "$(openai-fake env --confdir {confdir})"' in proxy_block
    assert f"export SSL_CERT_FILE={confdir}/openai-fake-bundle.pem" in proxy_block.splitlines()
    assert "OPENAI_BASE_URL" not in proxy_block and "HTTPS_PROXY" not in base_url_block
    exports = [line for line in base_url_block.splitlines() if line.startswith("export ")]
    assert [line.split("=")[0] for line in exports] == ["export OPENAI_BASE_URL", "export OPENAI_API_BASE",
                                                        "export OPENAI_API_KEY"]


def test_profiles_output_keeps_paths_whole_at_80_columns_in_a_pipe(tmp_path):
    long_dir = tmp_path / "some-quite-long-directory-name" / "another-nested-directory-level"
    long_dir.mkdir(parents=True)
    good = long_dir / "my_really_long_profile_name_for_tests.py"
    good.write_text("from proxy_addon import Profile\nprofile = Profile()\nprofile.chat.completions(latency=0.1)\n")
    checked = run_cli("profiles", "check", str(good), env={"COLUMNS": "80"})
    assert checked.returncode == 0
    assert checked.stdout == (f"ok: {good.stem} ({good}); latency 0 s; rules: chat.completions\n")
    listing = run_cli("profiles", env={"COLUMNS": "80"})
    from proxy_addon.profile import shipped_dir

    assert listing.stdout.splitlines()[0] == f"Shipped profiles, in {shipped_dir()}:"
    assert all(len(line) <= 80 and line == line.rstrip() for line in listing.stdout.splitlines())
    assert listing.stdout.splitlines()[1].startswith("  broken_stream  Streams that break half-way")
