"""The seed's examples, as they are but for their import lines (see README.md here).

They open `tests/seed_examples/example.json` as the seed opened `examples/example.json`: from the
project's root, which each test runs in. Three need pieces of issue 15 that other branches build;
each is skipped, saying which, only while that piece is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _azure_intercepted() -> bool:
    from proxy_addon import access

    intercepted = getattr(access, "is_api_host", None)
    return intercepted is not None and bool(intercepted("example-endpoint.openai.azure.com"))


def _other_hosts() -> bool:
    from proxy_addon.profile import Profile

    return hasattr(Profile, "host")


def _in_process() -> bool:
    import openai_fake

    return hasattr(openai_fake, "transport")


#: file -> (whether its piece is there, the skip reason)
_NEEDS = {
    "test_azure_client.py": (_azure_intercepted, "needs the fake to answer Azure OpenAI hosts "
                                                 "(*.openai.azure.com; issue 15 section 2, branch wt-azure)"),
    "test_router_usage.py": (_other_hosts, "needs other hosts faked through the proxy (profile.host; "
                                           "issue 15 section 2, branch wt-azure)"),
    "test_transport.py": (_in_process, "needs the in-process transport (openai_fake.transport; "
                                       "issue 15 section 4, branch wt-inproc)"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        need = _NEEDS.get(Path(str(item.fspath)).name)
        if need is not None and Path(str(item.fspath)).parent == Path(__file__).parent and not need[0]():
            item.add_marker(pytest.mark.skip(reason=need[1]))


@pytest.fixture(autouse=True)
def _from_the_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
