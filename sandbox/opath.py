"""The slice of Exchange's OPATH filter language that management scopes need.

Accepted: clauses `<Property> -eq '<value>'` (single or double quotes, optionally parenthesised) joined
with `-or`, for MemberOfGroup, RecipientTypeDetails and PrimarySmtpAddress. Anything else raises
`FilterError` carrying the text Exchange puts in its error, so a client bug shows up as it would against
a real tenant rather than as a silently empty scope.
"""

from __future__ import annotations

import re

PROPERTIES = {
    "memberofgroup": "MemberOfGroup",
    "recipienttypedetails": "RecipientTypeDetails",
    "primarysmtpaddress": "PrimarySmtpAddress",
}
_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<op>-\w+)|'(?P<sq>(?:[^']|'')*)'|\"(?P<dq>(?:[^\"]|\"\")*)\"|(?P<word>[\w.]+))"
)


class FilterError(ValueError):
    """A RecipientRestrictionFilter the sandbox cannot parse (Exchange answers "Invalid filter syntax")."""


def _syntax(text: str, position: int) -> FilterError:
    return FilterError(
        "Invalid filter syntax. For a description of the filter parameter syntax see the command help.\r\n"
        f'"{text}" at position {position + 1}.'
    )


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise _syntax(text, pos)
        kind = match.lastgroup or ""
        value, start = match.group(kind), match.start(kind)
        if kind == "sq":
            kind, value = "str", value.replace("''", "'")
        elif kind == "dq":
            kind, value = "str", value.replace('""', '"')
        out.append((kind, value, start))
        pos = match.end()
    return out


def parse_scope_filter(text: str) -> list[tuple[str, str]]:
    """Parse a RecipientRestrictionFilter into (lower-cased property, value) clauses joined by -or."""
    tokens = _tokens(text)
    clauses: list[tuple[str, str]] = []
    i = 0

    def expect_clause() -> None:
        nonlocal i
        depth = 0
        while i < len(tokens) and tokens[i][0] == "lp":
            depth += 1
            i += 1
        if i + 2 >= len(tokens):
            raise _syntax(text, tokens[-1][2])
        prop, op, value = tokens[i], tokens[i + 1], tokens[i + 2]
        if prop[0] != "word":
            raise _syntax(text, prop[2])
        if prop[1].lower() not in PROPERTIES:
            raise FilterError(
                f'"{prop[1]}" is not a recognized filterable property. For a description of the filterable '
                "properties see the command help."
            )
        if op[0] != "op" or op[1].lower() != "-eq":
            raise _syntax(text, op[2])
        if value[0] not in ("str", "word"):
            raise _syntax(text, value[2])
        i += 3
        for _ in range(depth):
            if i >= len(tokens) or tokens[i][0] != "rp":
                raise _syntax(text, tokens[i][2] if i < len(tokens) else len(text) - 1)
            i += 1
        clauses.append((prop[1].lower(), value[1]))

    if not tokens:
        raise _syntax(text, 0)
    expect_clause()
    while i < len(tokens):
        kind, value, position = tokens[i]
        if kind != "op" or value.lower() != "-or":
            raise _syntax(text, position)
        i += 1
        if i >= len(tokens):
            raise _syntax(text, position)
        expect_clause()
    for prop, value in clauses:
        if prop == "memberofgroup" and not re.match(r"(?i)^CN=.+,(OU|DC|CN)=", value):
            raise FilterError(f'The value "{value}" of property "MemberOfGroup" isn\'t a valid distinguished name.')
    return clauses
