"""Quoting for the PowerShell Onramp shows and generates. Every value from a tenant or an admin goes through
`quote`, so a name with quotes, `$`, backticks or semicolons stays a literal string."""

from collections.abc import Iterable

# PowerShell treats the typographic single quotes as quote characters too; each one is doubled to escape it.
_SINGLE_QUOTES = ("'", "\u2018", "\u2019", "\u201a", "\u201b")


def quote(value: str) -> str:
    """A single-quoted PowerShell literal: nothing inside is expanded, and each quote character is doubled."""
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("line breaks and NUL cannot appear in a PowerShell argument")
    escaped = "".join(ch + ch if ch in _SINGLE_QUOTES else ch for ch in value)
    return f"'{escaped}'"


def quote_list(values: Iterable[str]) -> str:
    return ",".join(quote(value) for value in values)
