"""The seed's examples, as they are but for their import lines (see README.md here).

They open `tests/seed_examples/example.json` as the seed opened `examples/example.json`: from the
project's root, which each test runs in.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _from_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
