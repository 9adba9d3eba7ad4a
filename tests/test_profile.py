"""Profiles: the knobs, and loading them with clear errors that name the file and the line."""

from __future__ import annotations

import array
import base64
import sys
import textwrap

import pytest

from proxy_addon import Profile, ProfileError
from proxy_addon.profile import load, shipped


def write(tmp_path, text: str, name: str = "mine.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_shipped_profiles_load_by_bare_name():
    assert {"default", "flaky", "slow"} <= set(shipped())
    for name in ("default", "flaky", "slow"):
        profile = load(name)
        assert profile.name == name and profile.source.endswith(f"{name}.py")
    assert load("flaky").rules["chat.completions"].failure_status == 429
    assert load("slow").rules["chat.completions"].latency == 2.0


def test_a_file_and_a_dotted_module(tmp_path, monkeypatch):
    path = write(tmp_path, """
        from proxy_addon import Profile
        profile = Profile(latency=0.25)
        profile.chat.completions(choices=[{"message": {"content": "Hi"}}], latency=0.2, failures=2)
        profile.embeddings(embedding=[0.1, 0.2, 0.3])

        @profile.models
        def answer(request, state):
            return {"models": ["only-one"]}
    """, "team_profile.py")
    profile = load(str(path))
    assert profile.latency == 0.25 and profile.rules["chat.completions"].latency == 0.2
    assert profile.rules["models"].handler.__name__ == "answer"
    monkeypatch.syspath_prepend(str(tmp_path))
    assert load("team_profile").rules["embeddings"].knobs["embedding"] == [0.1, 0.2, 0.3]
    sys.modules.pop("team_profile", None)


@pytest.mark.parametrize("source, line, words", [
    ("from proxy_addon import Profile\nprofile = Profile(\n", 2, ["syntax error"]),
    ("from proxy_addon import Profile\nprofile = Profile(latncy=1)\n", 2, ["latncy"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.chat.completion(choices=[])\n", 3, ["unknown route name", "chat.completion", "chat.completions"]),
    ("from proxy_addon import Profile\nprofile = Profile()\n\nprofile.embeddings(vector=[1])\n", 4, ["unknown knob", "vector", "embedding"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.embeddings(embedding='x')\n", 3, ["should be a valid list, not a str"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.embeddings(exact='yes')\n", 3, ["embeddings(exact=...) must be a bool, not str"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.responses(status='bogus')\n", 3, ["responses(status=...)", "'completed'"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.moderations(flagged=['x'])\n", 3, ["moderations(flagged=...)[0]", "'hate'"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.chat.completions(choices=['s'])\n", 3, ["chat.completions(choices=...)[0]", "dictionary"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.beta.threads.runs(poll_after_ms='3')\n", 3, ["poll_after_ms", "not a str"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.chat.completions.create(choices=[], failures=1)\n", 3, ["at least 1 item"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.models(failures=-1)\n", 3, ["failures"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.models(failure_status=200)\n", 3, ["failure_status"]),
    ("from proxy_addon import Profile\nprofile = Profile(latency='slow')\n", 2, ["latency"]),
    ("import nothing_here_at_all\n", 1, ["ModuleNotFoundError"]),
    ("x = 1\n", 1, ["defines no `profile = Profile(...)`"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.state.put('assistants', {'model': 3})\n", 3, ["profile.state.put", "model"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.state.put('threads', {'messages': [{'role': 'robot', 'content': 'x'}]})\n", 3, ["Invalid value: 'robot'"]),
    ("from proxy_addon import Profile\nprofile = Profile()\nprofile.state.put('runs', {})\n", 3, ["cannot store 'runs'"]),
])
def test_broken_profiles_name_the_file_and_line(tmp_path, source, line, words):
    path = write(tmp_path, source)
    with pytest.raises(ProfileError) as caught:
        load(str(path))
    message = str(caught.value)
    assert message.startswith(f"{path}:{line}:"), message
    for word in words:
        assert word in message


def test_unknown_names_and_missing_files():
    with pytest.raises(ProfileError, match="no profile named 'nosuch'.*default, flaky, slow"):
        load("nosuch")
    with pytest.raises(ProfileError, match="no such profile file"):
        load("/nonexistent/profile.py")


def test_rules_update_and_decorate():
    profile = Profile()
    profile.chat.completions(failures=1)
    profile.chat.completions(latency=0.5)
    rule = profile.rules["chat.completions"]
    assert (rule.failures, rule.latency) == (1, 0.5)

    @profile.chat.completions
    def handler(request, state):
        return "x"

    assert rule.handler is handler and rule.failures == 1
    with pytest.raises(AttributeError, match="unknown route name"):
        profile.nothing


def test_the_profiles_guide_example_loads_and_works(tmp_path):
    import json
    import re

    from proxy_addon.engine import Engine, Request

    readme = (__import__("pathlib").Path(__file__).resolve().parent.parent / "docs" / "guide" / "profiles.md").read_text()
    example = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "profile = Profile(" in b)
    profile = load(str(write(tmp_path, example, "readme_example.py")))
    engine = Engine(profile)
    auth = {"authorization": "Bearer sk-test-123456"}
    flagged = engine.handle(Request("POST", "/v1/moderations", auth, b'{"input": "forbidden words"}'))
    assert json.loads(flagged.body)["results"][0]["categories"]["violence"] is True
    assert engine.handle(Request("POST", "/v1/embeddings", auth, b'{"model": "m", "input": "x", "encoding_format": "float"}')).body.count(b"0.2") == 1


# -- the stub: an editor completes every rule and knob (issue 13) ----------------------------------------


def test_the_profile_stub_is_current_and_covers_the_module():
    import ast
    import subprocess
    import sys
    from pathlib import Path

    import proxy_addon.profile as module

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, str(root / "tools" / "generate_stubs.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    stub = ast.parse((root / "proxy_addon" / "profile.pyi").read_text())
    defined = {n.name for n in stub.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    assert set(module.__all__) <= defined


def test_a_type_checker_catches_a_bad_knob_and_a_misspelt_rule_with_the_stub(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("mypy")
    (tmp_path / "mine.py").write_text(
        "from openai_fake import Profile\n"
        "profile = Profile(latency=0.1)\n"
        "profile.chat.completions(choices=[{'message': {'content': 'hi'}}], failures=2)\n"
        "profile.chat.completions.create(failures=1)\n"
        "profile.beta.threads.runs(progress='polls', poll_after_ms=3)\n"
        "@profile.embeddings\n"
        "def vectors(request, state):\n"
        "    return None\n"
        "profile.responses(status='bogus')\n"
        "profile.chat.completion(choices=[])\n")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--follow-imports=silent",
                           "--cache-dir", str(tmp_path / "cache"), "mine.py"], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "MYPYPATH": str(root)})
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["9", "10"], done.stdout
    assert "_Responses" in errors[0] and 'has no attribute "completion"' in errors[1]


# -- embeddings: what `==` sees through the SDK, which asks for base64 (float32) unless told -----------------

GIVEN = [0.1, 0.2]
AS_FLOAT32 = array.array("f", GIVEN).tolist()  # [0.10000000149011612, 0.20000000298023224]


def _vectors(client, **kw) -> list:
    return [item.embedding for item in client.embeddings.create(model="text-embedding-3-small", input=["a", "b"], **kw).data]


def test_a_fixed_embedding_reads_back_as_float32_by_default(use_profile, base_client, client):
    profile = Profile()
    profile.embeddings(embedding=GIVEN)
    use_profile(profile)
    for sdk in (base_client, client):  # the base-URL face and the proxy
        assert _vectors(sdk) == [AS_FLOAT32, AS_FLOAT32] and AS_FLOAT32 != GIVEN  # as the real API's base64 would
        assert _vectors(sdk, encoding_format="float") == [GIVEN, GIVEN]  # the numbers as given
        encoded = _vectors(sdk, encoding_format="base64")
        assert [array.array("f", base64.b64decode(e)).tolist() for e in encoded] == [AS_FLOAT32, AS_FLOAT32]


def test_exact_answers_the_numbers_as_given_whatever_was_asked(use_profile, base_client, client):
    profile = Profile()
    profile.embeddings(embedding=GIVEN, exact=True)
    use_profile(profile)
    for sdk in (base_client, client):
        assert _vectors(sdk) == [GIVEN, GIVEN]  # the common test's `==` holds
        assert _vectors(sdk, encoding_format="float") == [GIVEN, GIVEN]
        assert _vectors(sdk, encoding_format="base64") == [GIVEN, GIVEN]  # numbers, not a string: the documented departure


def test_exact_applies_to_the_fakes_own_vectors_too(use_profile, base_client):
    plain = _vectors(base_client, encoding_format="float")
    assert _vectors(base_client) != plain  # float32 through base64
    profile = Profile()
    profile.embeddings(exact=True)
    use_profile(profile)
    assert _vectors(base_client) == plain and len(plain[0]) == 1536
