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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep each seed example module on one xdist worker: `test_state_store_fixture.py` shares a
    module-scoped store between two tests, the second reading what the first made (with `-n 2` they
    could land on different workers). tests/conftest.py makes xdist honour the groups."""
    for item in items:
        if item.path.parent == Path(__file__).parent:
            item.add_marker(pytest.mark.xdist_group(f"seed:{item.path.stem}"))
