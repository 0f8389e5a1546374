"""What a shell block of a runbook calls: its commands, tools, variables and URLs.

``runbook check`` lists the tools a step calls and which this host lacks; the executor
refuses a block that calls a missing tool or an external URL before it runs any of it
(a half-run block is worse than none). This is a reader of the shell *words* that
runbooks write (pipelines, ``&&``, ``$(...)``, ``sudo``/``xargs``/``watch`` wrappers,
heredocs, line continuations), not a full shell parser: what it cannot see (a tool
named by a variable) the run itself still catches, since bash's exit 127 is reported as
COMMAND_NOT_FOUND too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

#: Shell builtins and keywords: never "tools" a host can lack.
BUILTINS = frozenset(
    """: . [ [[ ]] alias bg break builtin case cd command continue declare do done echo elif
    else esac eval exec exit export false fg fi for function getopts hash if in jobs kill
    let local printf pushd popd pwd read readonly return select set shift shopt source
    test then time trap true type typeset ulimit umask unalias unset until wait while { }
    ! coproc mapfile""".split()  # noqa: SIM905
)
_KEYWORDS_BEFORE_COMMAND = frozenset({"if", "then", "else", "elif", "do", "while", "until", "!"})
# wrapper -> options that take a value; the wrapped command follows.
_WRAPPERS: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-h", "-p", "-C"}),
    "xargs": frozenset({"-I", "-n", "-P", "-d", "-L", "-s", "-a", "-E"}),
    "nohup": frozenset(),
    "time": frozenset(),
    "nice": frozenset({"-n"}),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "env": frozenset({"-u", "-C"}),
    "exec": frozenset(),
    "command": frozenset(),
}
_OPERATORS = ("&&", "||", ";;", "|&", ";", "|", "&", "(", ")")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]*\])?\+?=")
_VAR = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)|([A-Za-z_][A-Za-z0-9_]*))")
_URL = re.compile(r"\bhttps?://[^\s'\"`)<>|;]+")
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
_HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


@dataclass(frozen=True)
class Line:
    """A logical command line: continuations joined, its first physical line number."""

    offset: int  # 0-based line offset inside the block
    text: str
    span: int = 1  # physical lines it covers


@dataclass
class ShellFacts:
    tools: list[str] = field(default_factory=list)  # in order of first use
    env_vars: list[str] = field(default_factory=list)  # read before the block sets them
    assigned: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    @property
    def external_urls(self) -> list[str]:
        return [u for u in self.urls if not is_local_url(u)]


def is_local_url(url: str) -> bool:
    host = re.sub(r"^https?://", "", url).split("/", 1)[0].rsplit("@", 1)[-1]
    host = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    return host in _LOCAL_HOSTS


def logical_lines(text: str) -> list[Line]:
    """Command lines of a block: ``\\`` continuations and quoted newlines joined,
    heredoc bodies left out."""
    out: list[Line] = []
    physical = text.splitlines()
    i = 0
    while i < len(physical):
        start = i
        joined = physical[i]
        while i + 1 < len(physical):
            if _open_quote(joined) is not None:
                joined += "\n" + physical[i + 1]  # a newline inside quotes is kept
            elif joined.endswith("\\"):
                joined = joined[:-1] + " " + physical[i + 1].lstrip()  # a continuation is not
            else:
                break
            i += 1
        out.append(Line(start, joined, i - start + 1))
        i += 1
        for match in _HEREDOC.finditer(strip_comment(joined)):
            word = match.group(2)
            while i < len(physical) and physical[i].strip() != word:
                i += 1
            i += 1  # the terminator
    return out


def _open_quote(text: str) -> str | None:
    """The quote left open at the end of *text* (comments ignored), or None."""
    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"':
                i += 1
        elif ch == "\\":
            i += 1
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or text[i - 1] in " \t\n;|&("):
            nl = text.find("\n", i)
            if nl < 0:
                return None
            i = nl
        i += 1
    return quote


def strip_comment(line: str) -> str:
    """The text without its ``# comments`` (a ``#`` inside quotes or a word is kept)."""
    out: list[str] = []
    quote: str | None = None
    skipping = False
    for i, ch in enumerate(line):
        if skipping:
            if ch == "\n":
                skipping = False
                out.append(ch)
            continue
        if quote:
            if ch == quote and not (quote == '"' and i and line[i - 1] == "\\"):
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t\n;|&("):
            skipping = True
            continue
        out.append(ch)
    return "".join(out).rstrip()


def tokenize(line: str) -> list[str]:
    """Shell words and operators. A command substitution ``$(...)`` (or backquotes)
    becomes ``$(`` ... ``$)`` around its own tokens, so the commands inside are seen
    while the word around it stays one word; quoted text is one word, quotes removed."""
    lexer = _Lexer(line)
    while lexer.i < len(line):
        lexer.step()
        lexer.i += 1
    lexer.flush()
    return lexer.tokens


class _Lexer:
    def __init__(self, line: str) -> None:
        self.line = line
        self.i = 0
        self.tokens: list[str] = []
        self.word: list[str] = []
        # open "(": ("$" | "`", the quote and the word part outside it) for a
        # substitution, ("(", None, []) for a subshell
        self.depth: list[tuple[str, str | None, list[str]]] = []
        self.quote: str | None = None

    def flush(self) -> None:
        if self.word:
            self.tokens.append("".join(self.word))
            self.word.clear()

    def step(self) -> None:
        line, i, ch = self.line, self.i, self.line[self.i]
        if self.quote == "'":
            if ch == "'":
                self.quote = None
            else:
                self.word.append(ch)
        elif line.startswith("$((", i):
            close = _arith_end(line, i + 3)
            for inner in re.findall(r"\$\(([^()]*)\)", line[i + 3 : close]):
                self.tokens.extend(["$(", *tokenize(inner), "$)"])
            self.word.append("0")
            self.i = close
        elif line.startswith("$(", i) or (ch == "`" and all(d[0] != "`" for d in self.depth)):
            self.depth.append(("`" if ch == "`" else "$", self.quote, list(self.word)))
            self.word.clear()
            self.tokens.append("$(")
            self.quote = None
            self.i += 0 if ch == "`" else 1
        elif (
            self.quote is None and self.depth and ch == {"$": ")", "`": "`"}.get(self.depth[-1][0])
        ):
            self.flush()
            _kind, self.quote, outer = self.depth.pop()
            self.tokens.append("$)")
            self.word.extend([*outer, "0"])  # the word around the substitution goes on
        elif self.quote == '"':
            self._double_quoted(ch)
        else:
            self._unquoted(ch)

    def _double_quoted(self, ch: str) -> None:
        if ch == '"':
            self.quote = None
        elif ch == "\\" and self.i + 1 < len(self.line):
            self.i += 1
            self.word.append(self.line[self.i])
        else:
            self.word.append(ch)

    def _unquoted(self, ch: str) -> None:
        line, i = self.line, self.i
        if ch in "'\"":
            self.quote = ch
        elif ch == "\\" and i + 1 < len(line):
            self.i += 1
            self.word.append(line[self.i])
        elif ch.isspace():
            self.flush()
        elif ch == "&" and ((self.word and self.word[-1] in "<>") or line.startswith("&>", i)):
            self.word.append(ch)  # 2>&1, &>file: a redirection, not a background job
        else:
            op = next((o for o in _OPERATORS if line.startswith(o, i)), None)
            if op is None:
                self.word.append(ch)
                return
            self.flush()
            if op == "(":
                self.depth.append(("(", None, []))
            elif op == ")" and self.depth:
                self.depth.pop()
            self.tokens.append(op)
            self.i += len(op) - 1


def _arith_end(line: str, start: int) -> int:
    """Index of the second ``)`` of the ``))`` closing an arithmetic expansion."""
    level = 0
    for j in range(start, len(line)):
        if line[j] == "(":
            level += 1
        elif line[j] == ")":
            if level == 0 and line.startswith("))", j):
                return j + 1
            level = max(0, level - 1)
    return len(line) - 1


_CRON_FIELD = re.compile(r"[\d*/,\-]+")


def _command_words(tokens: list[str]) -> list[tuple[str, list[str]]]:
    """(tool, its arguments) for every simple command of a tokenized line; the command
    in a substitution is its own, the word around it goes on."""
    stack: list[list[str]] = [[]]
    found: list[list[str]] = []
    for tok in [*tokens, ";"]:
        if tok == "$(":
            stack.append([])
        elif tok == "$)":
            if len(stack) > 1 and stack[-1]:
                found.append(stack.pop())
            elif len(stack) > 1:
                stack.pop()
        elif tok in _OPERATORS:
            if stack[-1]:
                found.append(stack[-1])
            stack[-1] = []
        else:
            stack[-1].append(tok)
    found += [words for words in stack if words]
    out: list[tuple[str, list[str]]] = []
    for words in found:
        out += _unwrap(words)
    return out


def _unwrap(words: list[str]) -> list[tuple[str, list[str]]]:
    """Skip assignments, keywords and a crontab schedule; see through sudo/xargs/env;
    watch's command."""
    if len(words) > 5 and all(_CRON_FIELD.fullmatch(w) for w in words[:5]):
        words = words[5:]  # "0 2 * * * /path/backup.sh": a crontab entry
    i = 0
    while i < len(words) and (words[i] in _KEYWORDS_BEFORE_COMMAND or _ASSIGNMENT.match(words[i])):
        i += 1
    if i >= len(words):
        return []
    tool, args = words[i], words[i + 1 :]
    if tool in ("for", "case", "select", "function"):
        return []
    if tool == "watch":
        inner = [a for a in args if not a.startswith("-") and not a.isdigit()]
        nested = [w for a in inner[-1:] for w in _command_words(tokenize(a))]
        return [(tool, args), *nested]
    if tool in _WRAPPERS:
        takes_value = _WRAPPERS[tool]
        j = 0
        while j < len(args) and (args[j].startswith("-") or _ASSIGNMENT.match(args[j])):
            j += 2 if args[j] in takes_value else 1
        rest = _unwrap(args[j:]) if j < len(args) else []
        return [(tool, args), *rest]
    return [(tool, args)]


def commands(text: str) -> list[tuple[int, str, list[str]]]:
    """(line offset, tool, arguments) of every command of a shell block, in order."""
    out: list[tuple[int, str, list[str]]] = []
    for line in logical_lines(text):
        code = strip_comment(line.text)
        if code.strip():
            out += [(line.offset, tool, args) for tool, args in _command_words(tokenize(code))]
    return out


def analyse(text: str) -> ShellFacts:
    """Tools, variables read (not set earlier in the block) and URLs of a shell block."""
    facts = ShellFacts()
    assigned: set[str] = set()
    for line in logical_lines(text):
        code = strip_comment(line.text)
        if not code.strip():
            continue
        for name in _reads(code):
            if name not in assigned and name not in facts.env_vars:
                facts.env_vars.append(name)
        for tool, args in _command_words(tokenize(code)):
            if tool not in BUILTINS and not tool.startswith("$") and tool not in facts.tools:
                facts.tools.append(tool)
            if tool in ("export", "local", "declare", "readonly", "read", "for"):
                assigned.update(a.split("=", 1)[0] for a in args if re.match(r"[A-Za-z_]\w*", a))
        for match in re.finditer(r"(?:^|[\s;&|(])([A-Za-z_][A-Za-z0-9_]*)\+?=", code):
            assigned.add(match.group(1))
        facts.urls += [u for u in _URL.findall(code) if u not in facts.urls]
    facts.assigned = sorted(assigned)
    return facts


def _reads(code: str) -> list[str]:
    """Variables expanded by *code* (single-quoted text does not expand)."""
    unquoted = re.sub(r"'[^']*'", "''", code)
    return [m.group(1) or m.group(2) for m in _VAR.finditer(unquoted)]
