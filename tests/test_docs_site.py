"""The documentation site builds with `mkdocs build --strict`: a broken link, a missing anchor or a page left
out of the nav fails here, in CI. Its reference pages for the profile, the CLI and the endpoints are the ones
tools/reference_docs.py makes from the code now."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_site_builds_strictly_with_the_generated_references(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "WARNING" not in done.stderr, done.stderr[-4000:]
    site = tmp_path / "site"
    profile = (site / "reference" / "profile" / "index.html").read_text()
    assert "webhook_backoff" in profile and "chunk_delay" in profile  # Profile(...)'s and Pace's knobs
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "openai-fake run" in cli and "--profile" in cli
    table = (site / "reference" / "endpoint-table" / "index.html").read_text()
    assert "/v1/chat/completions" in table
    assert "Goals:" in (site / "benchmarks-results" / "index.html").read_text()  # BENCHMARKS.md, included


def test_the_reference_pages_are_what_the_code_makes_now():
    sys.path.insert(0, str(ROOT / "tools"))
    import reference_docs

    assert reference_docs.stale() == [], "run tools/reference_docs.py"


def test_the_documented_test_files_pass_with_the_fixture(tmp_path):
    """Every `test_*` in a `python` block of the README, the getting-started page and the recipes, run as a
    user's suite runs it: the plugin from its entry point, a fresh directory, no conftest of ours."""
    import re

    pages = [ROOT / "README.md", ROOT / "docs" / "getting-started.md", ROOT / "docs" / "recipes.md"]
    count = 0
    for page in pages:
        for i, block in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S)):
            if "def test_" in block:
                (tmp_path / f"test_{page.stem.replace('-', '_').lower()}_{i}.py").write_text(block)
                count += len(re.findall(r"^def test_", block, re.M))
    assert count >= 4
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OPENAI_"))}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"{count} passed" in done.stdout, done.stdout[-2000:]
