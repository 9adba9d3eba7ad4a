"""Help screens that say what to type: each value shows its metavar (`PORT`, `FILE`, `NAME`), a flag shows
nothing, and the usage line reads `exec [OPTIONS] COMMAND...`.

Typer 0.29 shows the Python type instead (`<int>`, `<bool>`, `<list[str]>`, `<int range> [x>=0]`), and
for an argument beside its metavar, with `{command}...` in the usage line. A command made with
`cls=Command` (a group with `cls=Group`) gives each of its parameters, the help option and the
completion options included, the display below. Limits (`min=`) are said in the option's help words.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag:
            return None
        return self.metavar or self.name.upper()

    def _get_number_range_help_str(self) -> str | None:
        return None


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the metavar is the argument's name column already

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.metavar or self.name.upper()
        return [name if self.required else f"[{name}]"]


def _plain(param: Any) -> Any:
    """`param` with the display above (typer builds its parameters itself, so they are re-classed here)."""
    if type(param) is TyperOption:
        param.__class__ = _Option
    elif type(param) is TyperArgument:
        param.__class__ = _Argument
    return param


class _PlainHelp:
    """Re-classes the parameters of the command it is mixed into as they are asked for (typer appends the
    completion options after the command is made, and click makes the help option on demand)."""

    def get_params(self, ctx: Any) -> list:
        return [_plain(param) for param in super().get_params(ctx)]


class Command(_PlainHelp, TyperCommand):
    """A command whose help shows metavars, not Python types."""


class Group(_PlainHelp, TyperGroup):
    """A group whose help shows metavars, not Python types (its commands need `cls=Command` too)."""


def examples(*lines: str) -> str:
    """A command's epilog: example command lines, one per line as given (taken as text, not markup)."""
    from rich.markup import escape

    return "[b]Examples[/b]\n" + "\n".join(escape(line) for line in lines)
