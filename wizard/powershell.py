"""The PowerShell Onramp shows and generates, and the quoting that keeps tenant values inert inside it.

Every value from a tenant or an admin reaches a script only through `quote` (a single-quoted literal, where
PowerShell expands nothing) or, inside an Exchange recipient filter, through `opath_string` and then `quote`.
A name with quotes, `$`, backticks, semicolons or `$(...)` therefore stays one literal argument.
"""

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wizard.models import StepState

# PowerShell's tokenizer treats all of these as the single quote (CharTraits.IsSingleQuote): any one of them ends
# a single-quoted string, and any two in a row stand for the second one. Each is escaped by doubling it.
SINGLE_QUOTES = frozenset("'\u2018\u2019\u201a\u201b")
# A line break would end the command (and the comment) early, and NUL ends the string for native hosts. U+0085,
# U+2028 and U+2029 are refused too: editors and consoles may show them as line breaks and mislead the reader.
_FORBIDDEN = frozenset("\r\n\0\u0085\u2028\u2029")
_CMDLET_NAME = re.compile(r"[A-Z][A-Za-z]*-[A-Z][A-Za-z0-9]*")
_PARAMETER_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")


class UnsafeValue(ValueError):
    """A value that no quoting can make a safe one-line argument."""


def _refuse_line_breaks(value: str, what: str) -> None:
    if any(ch in _FORBIDDEN for ch in value):
        raise UnsafeValue(f"{what} contains a line break or NUL, which cannot appear in a one-line command: {value!r}")


def quote(value: str) -> str:
    """A single-quoted PowerShell literal: nothing inside is expanded, and each quote character is doubled."""
    _refuse_line_breaks(value, "A PowerShell argument")
    escaped = "".join(ch + ch if ch in SINGLE_QUOTES else ch for ch in value)
    return f"'{escaped}'"


def quote_list(values: Iterable[str]) -> str:
    """An array argument: each element its own literal, separated by commas."""
    quoted = [quote(value) for value in values]
    if not quoted:
        raise UnsafeValue("An array argument needs at least one element")
    return ",".join(quoted)


def opath_string(value: str) -> str:
    """A string literal for an OPATH filter (the text of -RecipientRestrictionFilter, -Filter …).

    OPATH delimits strings with single quotes and escapes one by doubling it. Every PowerShell single-quote
    character is doubled, not only the ASCII one, because Exchange's filter syntax follows PowerShell's: should a
    filter parser ever take a typographic quote literally, the doubled one only makes the filter miss that group,
    which verification reports; it can never end the literal and widen the scope.
    """
    _refuse_line_breaks(value, "An OPATH filter value")
    escaped = "".join(ch + ch if ch in SINGLE_QUOTES else ch for ch in value)
    return f"'{escaped}'"


def member_of_group_filter(distinguished_names: Sequence[str]) -> str:
    """`MemberOfGroup -eq '<DN1>' -or MemberOfGroup -eq '<DN2>' …`: recipients in any of the groups.

    The result is the filter's text; pass it through `quote` (or a `Command`) to put it on a command line.
    """
    if not distinguished_names:
        raise UnsafeValue("A MemberOfGroup filter needs at least one group: an empty filter would match everyone")
    return " -or ".join(f"MemberOfGroup -eq {opath_string(dn)}" for dn in distinguished_names)


@dataclass(frozen=True)
class Expression:
    """PowerShell code written by Onramp itself (e.g. `$_.ResourceAccounts`), put on the line as it is.
    Never build one from tenant data: that is what `quote` is for."""

    code: str


ParameterValue = str | bool | Sequence[str] | Expression


@dataclass(frozen=True)
class Command:
    """One cmdlet call with named parameters: rendered for the admin's shell, or handed to an API as data."""

    cmdlet: str
    parameters: tuple[tuple[str, ParameterValue], ...]

    def render(self) -> str:
        parts = [self.cmdlet]
        for name, value in self.parameters:
            if value is True:
                parts.append(f"-{name}")
            elif isinstance(value, Expression):
                parts.append(f"-{name} {value.code}")
            elif isinstance(value, str):
                parts.append(f"-{name} {quote(value)}")
            else:
                parts.append(f"-{name} {quote_list(value)}")
        return " ".join(parts)

    def arguments(self) -> dict[str, str | bool | list[str]]:
        """The parameters as data (switches are True), for running the same call through an API."""
        values: dict[str, str | bool | list[str]] = {}
        for name, value in self.parameters:
            if isinstance(value, Expression):
                raise UnsafeValue(f"-{name} of {self.cmdlet} is a shell expression, not data")
            values[name] = value if isinstance(value, str | bool) else list(value)
        return values


def command(cmdlet: str, parameters: Mapping[str, ParameterValue]) -> Command:
    """A `Command`, checking that the cmdlet and parameter names are plain names (they are never quoted)."""
    if not _CMDLET_NAME.fullmatch(cmdlet):
        raise UnsafeValue(f"not a cmdlet name: {cmdlet!r}")
    for name, value in parameters.items():
        if not _PARAMETER_NAME.fullmatch(name):
            raise UnsafeValue(f"not a parameter name: {name!r}")
        if value is False:
            raise UnsafeValue(f"-{name}: leave a switch out instead of passing False")
    return Command(cmdlet, tuple(parameters.items()))


def comment(text: str) -> str:
    """A `# …` line: inert whatever it says, as long as it stays on one line."""
    _refuse_line_breaks(text, "A comment")
    return f"# {text}"


def saved_value(state: "StepState", key: str, placeholder: str) -> str:
    """A value the step saved (its result, else its inputs), or the placeholder the page's commands show until then."""
    return str(state.result.get(key) or state.inputs.get(key) or placeholder)
