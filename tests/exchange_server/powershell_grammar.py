"""Just enough of PowerShell's and OPATH's tokenizers to prove generated commands parse as intended.

PowerShell is not available on the test machines, so the rules are implemented here from the language
specification (section 2.3.5.2, single-quoted string literals) and PowerShell's tokenizer (CharTraits.IsSingleQuote:
U+0027, U+2018, U+2019, U+201A, U+201B are all single quotes; inside a single-quoted string, two quote characters in
a row stand for the second one, and a lone one ends the string).
"""

from dataclasses import dataclass

QUOTES = "'\u2018\u2019\u201a\u201b"


class ParseError(Exception):
    """The line is not a well-formed cmdlet call under PowerShell's quoting rules."""


@dataclass(frozen=True)
class Token:
    kind: str  # word | parameter | string | comma
    text: str


def read_single_quoted(source: str, start: int) -> tuple[str, int]:
    """The value of the single-quoted string opening at `start`, and the index just past its closing quote."""
    if source[start] not in QUOTES:
        raise ParseError(f"no single quote at {start}")
    value = []
    index = start + 1
    while index < len(source):
        char = source[index]
        if char in QUOTES:
            if index + 1 < len(source) and source[index + 1] in QUOTES:
                value.append(source[index + 1])
                index += 2
                continue
            return "".join(value), index + 1
        value.append(char)
        index += 1
    raise ParseError("unterminated single-quoted string")


def tokenize_command(line: str) -> list[Token]:
    """A command line of barewords, -Parameters, single-quoted strings and commas. Anything else outside a
    string ($, backtick, ;, |, (, ", …) is a ParseError: in a generated line it could only come from a value that
    escaped its quotes."""
    tokens: list[Token] = []
    index = 0
    while index < len(line):
        char = line[index]
        if char == " ":
            index += 1
        elif char in QUOTES:
            value, index = read_single_quoted(line, index)
            tokens.append(Token("string", value))
        elif char == ",":
            tokens.append(Token("comma", ","))
            index += 1
        elif char.isalnum() or char == "-":
            end = index
            while end < len(line) and (line[end].isalnum() or line[end] == "-"):
                end += 1
            word = line[index:end]
            tokens.append(Token("parameter" if word.startswith("-") else "word", word))
            index = end
        else:
            raise ParseError(f"unexpected {char!r} at {index} outside a string in {line!r}")
    return tokens


def command_arguments(line: str) -> tuple[str, dict[str, object]]:
    """(cmdlet, {parameter: value}) of a generated line; a switch is True and an array is a list."""
    tokens = tokenize_command(line)
    if not tokens or tokens[0].kind != "word":
        raise ParseError("a command starts with the cmdlet name")
    arguments: dict[str, object] = {}
    index = 1
    while index < len(tokens):
        token = tokens[index]
        if token.kind != "parameter":
            raise ParseError(f"expected a parameter, got {token}")
        name = token.text[1:]
        index += 1
        if index >= len(tokens) or tokens[index].kind == "parameter":
            arguments[name] = True
            continue
        values = [tokens[index]]
        index += 1
        while index + 1 < len(tokens) and tokens[index].kind == "comma":
            values.append(tokens[index + 1])
            index += 2
        if any(value.kind != "string" for value in values):
            raise ParseError(f"-{name} takes literals only, got {values}")
        arguments[name] = values[0].text if len(values) == 1 else [value.text for value in values]
    return tokens[0].text, arguments


def opath_member_of_clauses(filter_text: str) -> list[str]:
    """The group DNs of `MemberOfGroup -eq '<DN>' -or …`, read with OPATH's (PowerShell's) string rules.
    Raises ParseError on anything else, such as an `-or` smuggled in through a value."""
    dns = []
    index = 0
    prefix = "MemberOfGroup -eq "
    while True:
        if not filter_text.startswith(prefix, index):
            raise ParseError(f"expected a MemberOfGroup clause at {index} of {filter_text!r}")
        dn, index = read_single_quoted(filter_text, index + len(prefix))
        dns.append(dn)
        if index == len(filter_text):
            return dns
        if not filter_text.startswith(" -or ", index):
            raise ParseError(f"unexpected text at {index} of {filter_text!r}")
        index += len(" -or ")
