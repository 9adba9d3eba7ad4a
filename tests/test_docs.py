"""The docs site's generated reference pages (tools/reference_docs.py): every knob described, and each page
following the code it is made from (a knob, a docstring line, a command, a route)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

import reference_docs  # noqa: E402

from proxy_addon.engine import knobs, routes  # noqa: E402
from proxy_addon.profile import Profile  # noqa: E402


def _section(page: str, heading: str) -> str:
    """The part of `page` under `heading`, up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = page.index(f"\n{heading}\n")
    ends = [m.start() for m in re.finditer(rf"\n#{{1,{len(level)}}} ", page) if m.start() > start]
    return page[start:ends[0] if ends else len(page)]


def _row(table: str, knob: str) -> str | None:
    """The table row of `knob` (its first cell names it), or None."""
    return next((line for line in table.splitlines() if line.startswith("| ") and f"`{knob}`" in line.split(" | ")[0]),
                None)


def test_every_knob_is_described():
    assert reference_docs.undocumented() == []


def test_a_knob_without_words_or_words_without_a_knob_are_listed(monkeypatch):
    monkeypatch.setitem(routes.RULES["chat.completions"], "zzz_knob", int)
    assert reference_docs.undocumented() == ["chat.completions(zzz_knob=)"]
    monkeypatch.delitem(routes.RULES["chat.completions"], "zzz_knob")
    monkeypatch.setitem(routes.DOCS["chat.completions"], "zzz_gone", knobs.Doc("none", "Nothing."))
    assert reference_docs.undocumented() == ["chat.completions(zzz_gone=) is described but is no knob"]


def test_a_changed_knob_changes_the_page(monkeypatch):
    heading = "### `profile.chat.completions`"
    assert _row(_section(reference_docs.profile_page(), heading), "zzz_knob") is None
    monkeypatch.setitem(routes.RULES["chat.completions"], "zzz_knob", knobs.Count)
    monkeypatch.setitem(routes.DOCS["chat.completions"], "zzz_knob",
                        knobs.Doc("`7`, the fake's", "How many zzz a completion has, e.g. `3`."))
    row = _row(_section(reference_docs.profile_page(), heading), "zzz_knob")
    assert row == "| `zzz_knob` | `int ≥ 0` | `7`, the fake's | How many zzz a completion has, e.g. `3`. |"
    monkeypatch.undo()
    assert _row(_section(reference_docs.profile_page(), heading), "zzz_knob") is None


def test_a_changed_docstring_line_changes_the_page(monkeypatch):
    said = "latency: seconds to wait before every answer (a rule's own `latency` wins)."
    assert said in Profile.__doc__
    before = _row(_section(reference_docs.profile_page(), "## Profile(...)"), "latency")
    assert "Seconds to wait before every answer" in before
    monkeypatch.setattr(Profile, "__doc__", Profile.__doc__.replace(said, "latency: the zzz wait, in seconds."))
    after = _row(_section(reference_docs.profile_page(), "## Profile(...)"), "latency")
    assert after == "| `latency` | `float` | `0.0` | The zzz wait, in seconds. |"


def test_the_page_describes_each_rule_with_its_own_words():
    page = reference_docs.profile_page()
    batches = _section(page, "### `profile.batches`")
    # a lifecycle knob a resource says more of: its own steps, not lifecycle's words
    assert '`"finalizing"`' in _row(batches, "fail_at")
    assert _row(batches, "fail_at") != _row(_section(page, "### `profile.videos`"), "fail_at")
    # a stream knob links the Pace section, which is on the page
    assert "[`Pace`](#pace)" in _row(_section(page, "### `profile.responses`"), "stream")
    assert "\n## Pace\n" in page
    # a rule with no knobs of its own is named once, among the plain ones
    assert "### `profile.files`" not in page
    assert "`files`" in _section(page, "## Rules with only the common knobs")


def test_the_tables_render_with_four_cells_a_row():
    markdown = pytest.importorskip("markdown")  # what MkDocs renders pages with
    html = markdown.markdown(reference_docs.profile_page(), extensions=["tables"])
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    assert len(rows) > 100
    assert [row for row in rows if len(re.findall(r"<t[dh]>", row)) != 4] == []
    # a pipe in a code span is the type's `|`, not an escape shown as it is
    assert "<code>\"polls\" | float ≥ 0</code>" in html
    assert "\\|" not in html


def _commands(command, path=()):
    """Every command and group under `command`, with its path of names."""
    for name, sub in getattr(command, "commands", {}).items():
        yield (*path, name), sub
        yield from _commands(sub, (*path, name))


def test_the_cli_page_has_every_command_and_its_options_help():
    import typer.main

    from openai_fake_cli.main import app

    root = typer.main.get_command(app)
    page = reference_docs.cli_page()
    top = list(root.commands)
    assert {"run", "exec", "tail"} <= set(top)
    for name in top:
        assert f"## `openai-fake {name}`\n" in page, name
    flat = " ".join(page.split())
    helped = 0
    for path, command in _commands(root):
        assert f"`openai-fake {' '.join(path)}`" in page
        for param in command.params:
            if getattr(param, "help", None):
                assert " ".join(param.help.split()) in flat, (path, param.name)
                helped += 1
    assert helped > 10
    run_profile = next(p for p in root.commands["run"].params if p.name == "profile")
    assert run_profile.help in _section(page, "## `openai-fake run`")  # under its own command


def test_the_endpoints_page_has_a_row_for_every_route():
    page = reference_docs.endpoints_page()
    rows = {tuple(line.split(" | ")[:2]) for line in page.splitlines() if line.startswith("| `")}
    missing = [f"{r.method} {r.template}" for r in routes.ROUTES if (f"| `{r.method}`", f"`{r.template}`") not in rows]
    assert missing == []
    assert len(routes.ROUTES) > 300


def test_the_endpoints_page_links_each_rule_with_knobs_to_its_section():
    markdown = pytest.importorskip("markdown")
    headings = set(re.findall(r'<h3 id="([^"]+)"', markdown.markdown(reference_docs.profile_page(), extensions=["toc"])))
    page = reference_docs.endpoints_page()
    linked = set(re.findall(r"\]\(profile\.md#([^)]+)\)", page))
    assert linked == {f"profile{rule.replace('.', '')}" for rule, own in routes.RULES.items() if own}
    assert linked <= headings
