"""A regular wheel install: the CLI and the shipped profiles under their distinctive import names."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_profiles_found_by_bare_name(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("openai_fake-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "openai_fake_profiles/flaky.py" in names and "openai_fake_cli/main.py" in names and "openai_fake/__init__.py" in names
    assert "openai_fake/compat/helpers/builders/runs.py" in names and "openai_fake/compat/ext/httpx.py" in names
    assert "proxy_addon/profile.pyi" in names and "proxy_addon/py.typed" in names  # editors complete rules and knobs
    assert "proxy_addon/cassettes/store.py" in names  # record and replay: a subpackage the package list names
    assert not any(n.startswith(("cli/", "profiles/", "tests/")) for n in names)  # no generic top-level names
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    # PYTHONPATH puts the installed wheel ahead of this checkout's editable install.
    check = (
        "import proxy_addon, openai_fake_cli.main\n"
        "from proxy_addon.profile import load, shipped_dir\n"
        f"assert str(shipped_dir()).startswith({str(target)!r}), shipped_dir()\n"
        "assert load('flaky').source.startswith(str(shipped_dir()))\n"
        f"assert proxy_addon.__file__.startswith({str(target)!r})\n"
        "import openai_fake, proxy_addon.profile\n"  # the public name, the same objects as proxy_addon's
        f"assert openai_fake.__file__.startswith({str(target)!r})\n"
        "assert openai_fake.Profile is proxy_addon.profile.Profile is proxy_addon.Profile\n"
        "assert isinstance(load('flaky'), openai_fake.Profile)\n"
        "import openai_fake.compat as openai_responses\n"  # openai-responses' surface, from the wheel
        "import openai_fake.compat.helpers.builders.runs as runs\n"
        f"assert runs.__file__.startswith({str(target)!r}), runs.__file__\n"
        "print('ok', sorted(p.stem for p in shipped_dir().glob('*.py')))\n"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(target)})
    assert done.returncode == 0, done.stderr
    assert "'default', 'flaky'" in done.stdout and "'slow'" in done.stdout
