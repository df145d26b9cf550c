"""The admin's Exchange Management Shell, for whole scripts: `POST /_sandbox/script` (Exchange Server).

`/invoke` runs one cmdlet; this runs the scripts an admin pastes, in the subset of PowerShell they use: comments,
`$variables` and their properties, `if / elseif / else`, `foreach ($x in …)`, pipelines into `ForEach-Object`,
`Where-Object`, `Format-List` and `Format-Table`, `Import-Csv` (of files sent with the script), `Read-Host` (answered
from the request's input lines, as the admin would type them), `Write-Warning` / `Write-Host`, the comparison
operators `-eq -ne -contains -notcontains -not -and -or`, and `-ErrorAction SilentlyContinue`. Anything else is a
parse error and nothing runs, as PowerShell parses a whole script before running it.

As in PowerShell, an Exchange cmdlet's error is non-terminating: it is reported and the script goes on, and with
`-ErrorAction SilentlyContinue` it is suppressed and the command returns nothing. Each write cmdlet is counted, and
counted as a change only when the organisation's state differs afterwards, so a second run of a script that is safe
to run twice reports `changes: 0`.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import exchange
from .exchange import BINDING, ExchangeError, Params, Shell, recipient_json
from .exchange import _check_unique as check_unique
from .responses import Response
from .state import Tenant, User

PARSE_ERROR = "System.Management.Automation.ParseException"
FILE_NOT_FOUND = "System.IO.FileNotFoundException"
NON_INTERACTIVE = "System.Management.Automation.PSInvalidOperationException"
SILENT = {"silentlycontinue", "ignore"}
_QUOTES = "'\u2018\u2019\u201a\u201b"
_BAREWORD = re.compile(r"[A-Za-z0-9_.\\:@/]+(?:-[A-Za-z0-9_.\\:@/]+)*")
_COMPARISONS = {"-eq", "-ne", "-contains", "-notcontains", "-like"}


class ParseError(Exception):
    """The script is outside the PowerShell subset the shell runs: PowerShell parses a whole script before running
    any of it, so nothing runs."""


class SecureString:
    """What `Read-Host -AsSecureString` returns: its text never appears in output."""

    def __init__(self, text: str) -> None:
        self._text = text

    def reveal(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return "System.Security.SecureString"


# -- tokens ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tok:
    kind: str  # str | var | dash | word | op | nl | num
    text: str
    line: int


def tokenize(source: str) -> list[Tok]:
    tokens: list[Tok] = []
    index, line = 0, 1
    while index < len(source):
        char = source[index]
        if char in " \t\r":
            index += 1
        elif char == "\n" or char == ";":
            tokens.append(Tok("nl", "\n", line))
            line += char == "\n"
            index += 1
        elif char == "#":
            while index < len(source) and source[index] != "\n":
                index += 1
        elif char in _QUOTES:
            value, index = _single_quoted(source, index)
            tokens.append(Tok("str", value, line))
        elif char == '"':
            raise ParseError(f"line {line}: double-quoted strings expand variables; the scripts use single quotes")
        elif char == "$":
            match = re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", source[index:])
            if not match:
                raise ParseError(f"line {line}: a variable name must follow $")
            tokens.append(Tok("var", match.group(1).lower(), line))
            index += match.end()
        elif char == "@" and source[index + 1 : index + 2] in ("(", "{"):
            tokens.append(Tok("op", source[index : index + 2], line))
            index += 2
        elif char in "{}()|,=+.!":
            tokens.append(Tok("op", char, line))
            index += 1
        elif char == "-" and index + 1 < len(source) and source[index + 1].isalpha():
            match = re.match(r"-[A-Za-z][A-Za-z0-9]*", source[index:])
            assert match is not None
            tokens.append(Tok("dash", match.group(0).lower(), line))
            index += match.end()
        else:
            match = _BAREWORD.match(source, index)
            if not match:
                raise ParseError(f"line {line}: unexpected {char!r}")
            word = match.group(0)
            tokens.append(Tok("num" if word.isdigit() else "word", word, line))
            index = match.end()
    tokens.append(Tok("nl", "\n", line))
    return tokens


def _single_quoted(source: str, start: int) -> tuple[str, int]:
    value: list[str] = []
    index = start + 1
    while index < len(source):
        char = source[index]
        if char in _QUOTES:
            if index + 1 < len(source) and source[index + 1] in _QUOTES:
                value.append(source[index + 1])
                index += 2
                continue
            return "".join(value), index + 1
        value.append(char)
        index += 1
    raise ParseError("unterminated single-quoted string")


# -- syntax tree ----------------------------------------------------------------------------------
@dataclass
class Command:
    name: str
    arguments: list[tuple[str | None, Any]]  # (parameter name or None for positional, value node)
    block: list[Any] | None = None  # ForEach-Object / Where-Object script block
    line: int = 0


@dataclass
class Pipeline:
    head: Any  # a Command or an expression node
    rest: list[Command] = field(default_factory=list)


@dataclass
class If:
    branches: list[tuple[Any, list[Any]]]
    otherwise: list[Any] | None


@dataclass
class ForEach:
    variable: str
    source: Any
    body: list[Any]


@dataclass
class Assign:
    variable: str
    value: Any


class Parser:
    def __init__(self, tokens: list[Tok]) -> None:
        self.tokens = tokens
        self.pos = 0

    # Parameter names are kept lower-case (PowerShell matches them case-insensitively).
    def peek(self, offset: int = 0) -> Tok:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> Tok:
        if self.pos >= len(self.tokens):
            raise ParseError("unexpected end of script")
        tok = self.peek()
        self.pos += 1
        return tok

    def expect(self, kind: str, text: str | None = None) -> Tok:
        tok = self.take()
        if tok.kind != kind or (text is not None and tok.text.lower() != text):
            raise ParseError(f"line {tok.line}: expected {text or kind}, found {tok.text!r}")
        return tok

    def at(self, kind: str, text: str | None = None) -> bool:
        if self.pos >= len(self.tokens):
            return False
        tok = self.peek()
        return tok.kind == kind and (text is None or tok.text.lower() == text)

    def skip_newlines(self) -> None:
        while self.at("nl"):
            self.take()

    def script(self) -> list[Any]:
        body = self.statements(until=None)
        if self.pos < len(self.tokens):
            raise ParseError(f"line {self.peek().line}: unexpected {self.peek().text!r}")
        return body

    def statements(self, until: str | None) -> list[Any]:
        body: list[Any] = []
        while True:
            self.skip_newlines()
            if self.pos >= len(self.tokens):
                if until is not None:
                    raise ParseError("missing closing '}'")
                return body
            if until is not None and self.at("op", until):
                self.take()
                return body
            body.append(self.statement())

    def block(self) -> list[Any]:
        self.skip_newlines()
        self.expect("op", "{")
        return self.statements(until="}")

    def statement(self) -> Any:
        tok = self.peek()
        if tok.kind == "word" and tok.text.lower() == "if":
            return self.if_statement()
        if tok.kind == "word" and tok.text.lower() == "foreach" and self.peek(1).text == "(":
            self.take()
            self.expect("op", "(")
            variable = self.expect("var").text
            self.expect("word", "in")
            source = self.pipeline()
            self.expect("op", ")")
            return ForEach(variable, source, self.block())
        if tok.kind == "var" and self.peek(1).kind == "op" and self.peek(1).text == "=":
            self.take()
            self.take()
            return Assign(tok.text, self.pipeline())
        return self.pipeline()

    def if_statement(self) -> If:
        self.take()
        branches = [(self.condition(), self.block())]
        otherwise = None
        while True:
            save = self.pos
            self.skip_newlines()
            if self.at("word", "elseif"):
                self.take()
                branches.append((self.condition(), self.block()))
            elif self.at("word", "else"):
                self.take()
                otherwise = self.block()
                return If(branches, otherwise)
            else:
                self.pos = save
                return If(branches, otherwise)

    def condition(self) -> Any:
        self.expect("op", "(")
        value = self.pipeline()
        self.expect("op", ")")
        return value

    def pipeline(self) -> Pipeline:
        head = self.command() if self.at("word") else self.expression()
        rest = []
        while self.at("op", "|"):
            self.take()
            self.skip_newlines()
            rest.append(self.command())
        return Pipeline(head, rest)

    def command(self) -> Command:
        name_tok = self.expect("word")
        command = Command(name_tok.text, [], line=name_tok.line)
        while not (self.at("nl") or self.at("op", "|") or self.at("op", ")") or self.at("op", "}")):
            if self.at("op", "{"):
                command.block = self.block()
            elif self.at("dash"):
                name = self.take().text[1:]
                if self.at("dash") or self.at("nl") or self.at("op", "|") or self.at("op", ")") or self.at("op", "}"):
                    command.arguments.append((name, ("lit", True)))
                else:
                    command.arguments.append((name, self.argument()))
            else:
                command.arguments.append((None, self.argument()))
        return command

    def argument(self) -> Any:
        values = [self.argument_value()]
        while self.at("op", ","):
            self.take()
            values.append(self.argument_value())
        return values[0] if len(values) == 1 else ("array", values)

    def argument_value(self) -> Any:
        tok = self.peek()
        if tok.kind == "word":
            self.take()
            return ("lit", {"$true": True}.get(tok.text.lower(), tok.text))
        if tok.kind == "op" and tok.text == "@{":
            return self.hashtable()
        return self.primary()

    def hashtable(self) -> Any:
        self.expect("op", "@{")
        entries = []
        while not self.at("op", "}"):
            key = self.expect("word").text
            self.expect("op", "=")
            entries.append((key, self.argument()))
            if self.at("nl"):
                self.take()
        self.expect("op", "}")
        return ("hash", entries)

    # expressions, lowest precedence first
    def expression(self) -> Any:
        left = self.conjunction()
        while self.at("dash", "-or"):
            self.take()
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self) -> Any:
        left = self.unary()
        while self.at("dash", "-and"):
            self.take()
            left = ("and", left, self.unary())
        return left

    def unary(self) -> Any:
        if self.at("dash", "-not") or self.at("op", "!"):
            self.take()
            return ("not", self.unary())
        return self.comparison()

    def comparison(self) -> Any:
        left = self.additive()
        if self.peek().kind == "dash" and self.peek().text in _COMPARISONS:
            op = self.take().text
            return ("cmp", op, left, self.additive())
        return left

    def additive(self) -> Any:
        items = [self.primary()]
        while self.at("op", ","):
            self.take()
            items.append(self.primary())
        left = items[0] if len(items) == 1 else ("array", items)
        while self.at("op", "+"):
            self.take()
            left = ("add", left, self.primary())
        return left

    def primary(self) -> Any:
        tok = self.take()
        if tok.kind == "str":
            node: Any = ("lit", tok.text)
        elif tok.kind == "num":
            node = ("lit", int(tok.text))
        elif tok.kind == "var":
            node = (
                ("lit", {"true": True, "false": False, "null": None}[tok.text])
                if tok.text
                in (
                    "true",
                    "false",
                    "null",
                )
                else ("var", tok.text)
            )
        elif tok.kind == "op" and tok.text == "(":
            node = ("sub", self.pipeline())
            self.expect("op", ")")
        elif tok.kind == "op" and tok.text == "@(":
            node = ("arr", None if self.at("op", ")") else self.pipeline())
            self.expect("op", ")")
        else:
            raise ParseError(f"line {tok.line}: unexpected {tok.text!r}")
        while self.at("op", "."):
            self.take()
            node = ("member", node, self.expect("word").text)
        return node


# -- values ---------------------------------------------------------------------------------------
def _unroll(items: list[Any]) -> Any:
    """A pipeline's output as a value: nothing is $null, one item is that item, more are an array."""
    if not items:
        return None
    return items[0] if len(items) == 1 else list(items)


def _as_items(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _member(value: Any, name: str) -> Any:
    if isinstance(value, list):  # member enumeration (PowerShell 3 and later)
        return _unroll([v for v in (_member(item, name) for item in value) if v is not None])
    if isinstance(value, dict):
        return next((v for k, v in value.items() if k.lower() == name.lower()), None)
    return None


def _truthy(value: Any) -> bool:
    if isinstance(value, list):
        return _truthy(value[0]) if len(value) == 1 else bool(value)
    if isinstance(value, str):
        return value != ""
    return value is not None and value is not False and value != 0


def _equal(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is right
    if isinstance(left, str) or isinstance(right, str):
        return str(left).lower() == str(right).lower()
    return left == right


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# -- running --------------------------------------------------------------------------------------
@dataclass
class Run:
    tenant: Tenant
    files: dict[str, str]
    host_input: list[str]
    shell: Shell
    variables: dict[str, Any] = field(default_factory=dict)
    output: list[Any] = field(default_factory=list)
    host: list[str] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    writes: int = 0
    changes: int = 0

    def statements(self, body: list[Any]) -> None:
        for statement in body:
            if isinstance(statement, If):
                for condition, branch in statement.branches:
                    if _truthy(self.value(condition)):
                        self.statements(branch)
                        break
                else:
                    if statement.otherwise is not None:
                        self.statements(statement.otherwise)
            elif isinstance(statement, ForEach):
                for item in _as_items(self.value(statement.source)):
                    self.variables[statement.variable] = item
                    self.statements(statement.body)
            elif isinstance(statement, Assign):
                self.variables[statement.variable] = self.value(statement.value)
            else:
                self.output.extend(self.pipeline(statement))

    def value(self, node: Any) -> Any:
        if isinstance(node, Pipeline):
            if not node.rest and not isinstance(node.head, Command):
                return self.expression(node.head)
            return _unroll(self.pipeline(node))
        return self.expression(node)

    def pipeline(self, pipeline: Pipeline) -> list[Any]:
        if isinstance(pipeline.head, Command):
            items = self.command(pipeline.head, None)
        else:
            items = _as_items(self.expression(pipeline.head))
        for command in pipeline.rest:
            items = self.command(command, items)
        return items

    def expression(self, node: Any) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "var":
            return self.variables.get(node[1])
        if kind == "sub":
            return self.value(node[1])
        if kind == "arr":
            return [] if node[1] is None else self.pipeline(node[1])
        if kind == "array":
            return [self.expression(item) for item in node[1]]
        if kind == "hash":
            return {key: self.expression(value) for key, value in node[1]}
        if kind == "member":
            return _member(self.expression(node[1]), node[2])
        if kind == "not":
            return not _truthy(self.expression(node[1]))
        if kind == "and":
            return _truthy(self.expression(node[1])) and _truthy(self.expression(node[2]))
        if kind == "or":
            return _truthy(self.expression(node[1])) or _truthy(self.expression(node[2]))
        if kind == "add":
            left, right = self.expression(node[1]), self.expression(node[2])
            return _text(left) + _text(right) if isinstance(left, str) or left is None else left + right
        if kind == "cmp":
            return self.compare(node[1], self.expression(node[2]), self.expression(node[3]))
        raise ParseError(f"cannot evaluate {kind}")

    @staticmethod
    def compare(op: str, left: Any, right: Any) -> bool:
        if op in ("-contains", "-notcontains"):
            found = any(_equal(item, right) for item in _as_items(left))
            return found if op == "-contains" else not found
        if op == "-like":
            pattern = re.escape(_text(right)).replace(r"\*", ".*")
            return re.fullmatch(pattern, _text(left), re.IGNORECASE) is not None
        equal = _equal(left, right)
        return equal if op == "-eq" else not equal

    # commands
    def command(self, command: Command, items: list[Any] | None) -> list[Any]:
        named: dict[str, Any] = {}
        positional: list[Any] = []
        for name, node in command.arguments:
            value = self.expression(node)
            if name is None:
                positional.append(value)
            else:
                named[name] = value
        name = command.name.lower()
        builtin = _BUILTINS.get(name)
        if builtin is not None:
            return builtin(self, command, named, positional, items)
        if positional or items is not None:
            raise ExchangeError(BINDING, f"{command.name}: the scripts pass every parameter by name")
        return self.cmdlet(command, named)

    def cmdlet(self, command: Command, named: dict[str, Any]) -> list[Any]:
        silent = str(named.pop("erroraction", "")).lower() in SILENT
        canonical = exchange.canonical_cmdlet(command.name) or _ON_PREMISES.get(command.name.lower(), (None,))[0]
        write = canonical is not None and exchange.is_write(canonical)
        before = fingerprint(self.tenant) if write else ""
        self.shell.warnings = []
        try:
            on_premises = _ON_PREMISES.get(command.name.lower())
            if on_premises is not None:
                _, fn, allowed = on_premises
                value = fn(self.shell, Params(named, allowed))
            else:
                value = exchange.run_cmdlet(self.shell, command.name, named)
        except ExchangeError as err:
            if not silent:
                self.errors.append({"line": command.line, "type": err.exc_type, "message": err.text})
            return []
        finally:
            if write:
                self.writes += 1
                self.changes += fingerprint(self.tenant) != before
        self.host.extend(f"WARNING: {warning}" for warning in self.shell.warnings)
        return list(value)


def _for_each(run: Run, command: Command, named: dict, positional: list, items: list[Any] | None) -> list[Any]:
    if command.block is None:
        raise ExchangeError(BINDING, "ForEach-Object needs a script block")
    out: list[Any] = []
    for item in items or []:
        run.variables["_"] = item
        for statement in command.block:
            if isinstance(statement, Pipeline):
                out.extend(run.pipeline(statement))
            else:
                run.statements([statement])
    return out


def _where(run: Run, command: Command, named: dict, positional: list, items: list[Any] | None) -> list[Any]:
    if command.block is None or len(command.block) != 1:
        raise ExchangeError(BINDING, "Where-Object needs a script block with one condition")
    kept = []
    for item in items or []:
        run.variables["_"] = item
        if _truthy(run.value(command.block[0])):
            kept.append(item)
    return kept


def _format(run: Run, command: Command, named: dict, positional: list, items: list[Any] | None) -> list[Any]:
    wanted = _as_items(named.get("property", positional[0] if positional else None))
    wanted = [w for value in wanted for w in str(value).split(",") if w]
    return [{name: _member(item, name) for name in wanted} if wanted else item for item in items or []]


def _import_csv(run: Run, command: Command, named: dict, positional: list, items: list[Any] | None) -> list[Any]:
    path = _text(named.get("path", positional[0] if positional else ""))
    name = re.split(r"[\\/]", path)[-1]
    if name not in run.files:
        run.errors.append(
            {
                "line": command.line,
                "type": FILE_NOT_FOUND,
                "message": f"Could not find file '{path}'.",
            }
        )
        return []
    return list(csv.DictReader(io.StringIO(run.files[name])))


def _read_host(run: Run, command: Command, named: dict, positional: list, items: list[Any] | None) -> list[Any]:
    if not run.host_input:
        raise ExchangeError(
            NON_INTERACTIVE,
            "Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
        )
    prompt = _text(named.get("prompt", positional[0] if positional else ""))
    run.host.append(f"{prompt}: " + ("********" if named.get("assecurestring") else ""))
    typed = run.host_input.pop(0)
    return [SecureString(typed) if named.get("assecurestring") else typed]


def _write(prefix: str) -> Callable[..., list[Any]]:
    def write(run: Run, command: Command, named: dict, positional: list, items: list[Any] | None) -> list[Any]:
        message = _text(named.get("message", positional[0] if positional else ""))
        run.host.append(prefix + message)
        return []

    return write


def _connect_exchange_online(
    run: Run, command: Command, named: dict, positional: list, items: list[Any] | None
) -> list[Any]:
    """Exchange Online PowerShell's sign-in (the admin signs in when asked; the sandbox asks nothing): the cmdlets
    after it run against Exchange Online, where a dehydrated organisation refuses scopes and assignments."""
    if not named.get("organization") and not named.get("userprincipalname"):
        raise ExchangeError(BINDING, "Connect-ExchangeOnline: name the organisation (-Organization).")
    run.shell.online = True
    run.host.append(f"Connected to Exchange Online ({_text(named.get('organization') or named['userprincipalname'])}).")
    return []


_BUILTINS: dict[str, Callable[..., list[Any]]] = {
    "connect-exchangeonline": _connect_exchange_online,
    "foreach-object": _for_each,
    "where-object": _where,
    "format-list": _format,
    "format-table": _format,
    "select-object": _format,
    "import-csv": _import_csv,
    "read-host": _read_host,
    "write-warning": _write("WARNING: "),
    "write-host": _write(""),
}


# -- Exchange Server cmdlets the Exchange Online API does not offer -------------------------------
def new_mailbox(shell: Shell, params: Params) -> list[dict[str, Any]]:
    """A user with a mailbox in the organisation's Active Directory (New-Mailbox's default parameter set)."""
    tenant = shell.tenant
    name = params.required("Name")
    upn = params.required("UserPrincipalName")
    password = params.get("Password")
    if not isinstance(password, SecureString):
        raise ExchangeError(
            BINDING,
            "Cannot process argument transformation on parameter 'Password'. Cannot convert the value of type "
            '"System.String" to type "System.Security.SecureString".',
        )
    alias = params.text("Alias") or re.sub(r"[^A-Za-z0-9!#$%&'*+\-/=?^_`{|}~.]", "", name)
    check_unique(tenant, name, alias, upn)
    now = tenant.now()
    user = User(
        id=str(uuid.uuid4()),
        upn=upn,
        display_name=params.text("DisplayName") or name,
        mail_nickname=alias,
        kind="user",
        # On premises the account is written to a domain controller and used there: no Entra replication lag.
        created_at=now - tenant.knobs.replication_lag_s,
        password=password.reveal(),
        mailbox_at=now,
        exchange_guid=str(uuid.uuid4()),
    )
    tenant.users[user.id] = user
    return [recipient_json(user)]


_ON_PREMISES: dict[str, tuple[str, Callable[[Shell, Params], list[dict[str, Any]]], set[str]]] = {
    "new-mailbox": (
        "New-Mailbox",
        new_mailbox,
        {"name", "userprincipalname", "password", "displayname", "alias", "firstname", "lastname"},
    ),
}


def fingerprint(tenant: Tenant) -> str:
    """Everything a script can change, as text: equal before and after means nothing changed."""
    return repr(
        (
            sorted(repr(u) for u in tenant.users.values()),
            sorted(repr(g) for g in tenant.groups.values()),
            sorted(repr(s) for s in tenant.scopes.values()),
            sorted(repr(a) for a in tenant.assignments.values()),
        )
    )


def _statements(source: str) -> Iterator[Any]:
    yield from Parser(tokenize(source)).script()


def run_script(tenant: Tenant, body: dict[str, Any]) -> Response:
    """`{"Script": text, "Files": {name: text}, "Input": [typed lines]}` → what the admin would see."""
    try:
        statements = list(_statements(str(body.get("Script", ""))))
    except ParseError as err:
        return Response.json(400, {"error": {"type": PARSE_ERROR, "message": str(err)}})
    run = Run(
        tenant=tenant,
        files={str(k): str(v) for k, v in (body.get("Files") or {}).items()},
        host_input=[str(line) for line in body.get("Input") or []],
        shell=Shell(tenant, "admin", online=False),
    )
    with tenant.lock:
        try:
            run.statements(statements)
        except ExchangeError as err:  # a terminating error (a script the subset cannot run) stops the script
            run.errors.append({"line": 0, "type": err.exc_type, "message": err.text})
    return Response.json(
        200,
        {
            "output": [_plain(item) for item in run.output],
            "host": run.host,
            "errors": run.errors,
            "writes": run.writes,
            "changes": run.changes,
        },
    )


def _plain(item: Any) -> Any:
    if isinstance(item, SecureString):
        return repr(item)
    return item
