"""Statements of a migration script, as PostgreSQL's own scanner splits them.

Splitting uses pglast's binding of PostgreSQL's lexer, so dollar-quoted bodies,
DO blocks, comments and strings holding semicolons stay whole, and a syntax error
in one statement does not stop the others from being located. What each statement
is (transaction control, needs to run outside a transaction) is read from its
leading keywords; the full parse tree is the safety analysis' business.
"""

from __future__ import annotations

import re
import sys
import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from enum import StrEnum
from typing import Iterator, Sequence

from lumiku_tui.errors import PlanError
from lumiku_tui.pg.names import comment_end
from lumiku_tui.prisma.folder import LocalMigration


class Kind(StrEnum):
    REGULAR = "regular"
    BEGIN = "begin"
    COMMIT = "commit"
    ROLLBACK = "rollback"
    SAVEPOINT = "savepoint"
    NO_TRANSACTION = "no_transaction"
    PSQL_META = "psql_meta"  # \connect, \i ...: psql's, not PostgreSQL's
    COPY_STDIN = "copy_stdin"  # needs data on the client's standard input
    TWO_PHASE = "two_phase"  # PREPARE TRANSACTION, COMMIT/ROLLBACK PREPARED


@dataclass(frozen=True, slots=True)
class Statement:
    # Slots: a data migration holds hundreds of thousands of statements, each object counts.
    index: int  # 1-based, in the file
    #: The whole script (or, for a file read in windows, the window it was read from; sql/streamed.py): the
    #: statement's text is read from it when asked for, not kept as a copy.
    source: str = field(repr=False)
    start: int  # offset of the statement in the script (characters)
    stop: int
    line: int  # 1-based line where the statement's first keyword stands
    kind: Kind
    #: The leading keywords as read when the statement was split; None: not read yet (a data statement,
    #: whose kind its first word settles), read on first use.
    read_keywords: tuple[str, ...] | None
    text_line: int  # where the text (with any leading comment) starts
    text_column: int
    #: keywords[0] (or ""): read at once for every statement, as most questions about a statement start there.
    first_keyword: str = ""
    _keywords_cache: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def text(self) -> str:
        return self.source[self.start:self.stop]

    @property
    def keywords(self) -> tuple[str, ...]:
        if self.read_keywords is not None:
            return self.read_keywords
        if self._keywords_cache is None:
            object.__setattr__(self, "_keywords_cache", _keywords(self.text))
        return self._keywords_cache  # type: ignore[return-value]

    @property
    def summary(self) -> str:
        """One line for logs: the first words, shortened."""
        text = self.text
        start = _leading_comments_end(text)
        read = 400  # enough for 100 characters of words unless white space fills it; then read on
        while True:
            head = " ".join(text[start:start + read].split())
            if len(head) > 101 or start + read >= len(text):
                break
            read *= 4
        if start + read < len(text):
            head = head[:101]  # its last word may go on past what was read: only the first 97 are shown
        return head if len(head) <= 100 else head[:97] + "..."

    def location(self, position: int | None) -> tuple[int, int] | None:
        """Line and column in the file of a 1-based character position in this statement."""
        if not position or position < 1:
            return None
        before = self.text[: position - 1]
        newlines = before.count("\n")
        if newlines:
            return self.text_line + newlines, len(before) - before.rfind("\n")
        return self.text_line, self.text_column + len(before)


_WORD = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|\$[A-Za-z_]*\$|[A-Za-z_][A-Za-z0-9_$]*|\\|\S')


def _leading_comments_end(text: str) -> int:
    """Offset of the first token: skips white space, -- comments and nested /* */ comments."""
    if text[:1] not in ("-", "/") and not text[:1].isspace():
        return 0  # the usual case: a statement's text starts with its first token
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif (skipped := comment_end(text, i)) is not None:
            i = skipped
        else:
            break
    return i


def mentions(script: str, word: str) -> bool:
    """Whether `word` (lower case ASCII) occurs in `script` in any case: a quick look before a slower search,
    lower-casing a window at a time so a long script is never copied whole."""
    window = 1 << 20
    overlap = len(word) - 1
    for at in range(0, len(script), window):
        if word in script[max(at - overlap, 0):at + window].lower():
            return True
    return False


def code_start(text: str) -> int:
    """Where a statement's first token stands in its text (after any leading comments)."""
    return _leading_comments_end(text)


def _strip_leading_comments(text: str) -> str:
    return text[_leading_comments_end(text):]


def _leading_comment_lines(text: str) -> int:
    return text.count("\n", 0, _leading_comments_end(text))


#: Tokens on which PostgreSQL's scanner and a regular expression cannot disagree: bare ASCII words and quoted
#: names (without a doubled quote), each followed by white space, ( ) , . or the end, so that no longer token
#: (U&"...", E'...', "a""b") could start there; '...' strings without a backslash, and plain numbers, each
#: followed by , or ) (so no adjacent string continues them); ( ) , (single characters whatever follows);
#: . before no digit; PostgreSQL's white space. Anything else (other strings and numbers, operators,
#: comments) is left to the scanner.
_WORDS = r'([A-Za-z_][A-Za-z0-9_$]*)(?=[ \t\n\r\f(),.]|\Z)|("[^"]+")(?=[ \t\n\r\f(),.]|\Z)'
_STRING = r"('(?:[^'\\]|'')*')(?=[ \t\r\f]*[,)])"
_PLAIN_SPAN = re.compile(r"(?:" + _WORDS + "|" + _STRING + r"|[0-9]+(?:\.[0-9]+)?(?=[ \t\n\r\f]*[,)])|[(),]"
                         r"|\.(?![0-9])|[ \t\n\r\f]+)*")
_PLAIN_WORD = re.compile(_WORDS + "|" + _STRING + r"|(\()")
#: One tuple per distinct keyword sequence: a data migration repeats the same one hundreds of thousands of times.
_KEYWORD_TUPLES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _plain_keywords(head: str, limit: int, cut: bool) -> tuple[str, ...] | None:
    """The keywords when the statement starts with `limit` words of plain tokens (or is all plain tokens);
    None when something else comes first, for the scanner to read. `cut`: `head` is a prefix of a longer
    text, so its last token may be longer in the text and is not read."""
    span = _PLAIN_SPAN.match(head).end()  # type: ignore[union-attr]  # matches the empty string at least
    found = _PLAIN_WORD.findall(head, 0, span)
    if cut and span == len(head):
        found = found[:-1]
    if len(found) < limit and (cut or span < len(head)):
        return None
    return tuple(sys.intern(word.upper()) if word else "(" if paren else "?"
                 for word, _quoted, _string, paren in found[:limit])


def _keywords(text: str, limit: int = 12, prefix: int = 240) -> tuple[str, ...]:
    """The first bare words, upper-cased, read with PostgreSQL's scanner (comments anywhere are skipped).

    Quoted names and strings stand as "?" so a table called "concurrently" is not a keyword.
    """
    return interned_keywords(_keywords_read(text, limit, prefix))


def interned_keywords(words: tuple[str, ...]) -> tuple[str, ...]:
    """One tuple (of interned words) per distinct keyword sequence, for the first few thousand sequences."""
    known = _KEYWORD_TUPLES.get(words)
    if known is not None:
        return known
    if len(_KEYWORD_TUPLES) >= 4096:
        return words
    return _KEYWORD_TUPLES.setdefault(words, tuple(sys.intern(word) for word in words))


def _keywords_read(text: str, limit: int, prefix: int) -> tuple[str, ...]:
    # Twelve words fit in far less; a longer prefix only costs tokens nobody reads.
    start = _leading_comments_end(text)
    cut = len(text) - start > prefix
    # Most statements begin with plain words and names: read without building the scanner's tokens.
    plain = _plain_keywords(text[start:start + prefix], limit, cut)
    if plain is not None:
        return plain
    head = text[start:start + prefix]
    try:
        tokens = _scan(head)
    except Exception:  # a prefix cut inside a string: fall back to a coarse reading
        return _coarse_keywords(head, limit)
    words: list[str] = []
    for token in tokens:
        name = token.name
        if name in ("SQL_COMMENT", "C_COMMENT"):
            continue
        if name in ("SCONST", "USCONST", "BCONST", "XCONST") or (name == "IDENT" and head[token.start] == '"'):
            words.append("?")
        elif name == "ASCII_40":
            words.append("(")
        elif name == "IDENT" or token.kind != "NO_KEYWORD":
            # Interned: a large seed file repeats INSERT, INTO, VALUES hundreds of thousands of times.
            words.append(sys.intern(head[token.start:token.end + 1].upper()))
        elif not words and head[token.start] == "\\":
            words.append("\\")
        if len(words) >= limit:
            break
    if not words and head.startswith("\\"):
        words.append("\\")
    return tuple(words)


def _coarse_keywords(head: str, limit: int) -> tuple[str, ...]:
    words: list[str] = []
    for match in _WORD.finditer(head):
        token = match.group(0)
        if token[0].isalpha() or token[0] == "_":
            words.append(sys.intern(token.upper()))
        elif token[0] in "\"'":
            words.append("?")
        elif token in ("(", "\\") and (token == "(" or not words):
            words.append(token)
        if len(words) >= limit:
            break
    return tuple(words)


def kind_of(keywords: tuple[str, ...]) -> Kind:
    first = keywords[0] if keywords else ""
    if first == "\\":
        return Kind.PSQL_META
    if first == "COPY" and ("STDIN" in keywords or "STDOUT" in keywords):
        return Kind.COPY_STDIN
    second = keywords[1] if len(keywords) > 1 else ""
    if (first == "PREPARE" and second == "TRANSACTION") or (first in ("COMMIT", "ROLLBACK") and second == "PREPARED"):
        return Kind.TWO_PHASE
    if first in ("BEGIN", "START"):
        return Kind.BEGIN
    if first in ("COMMIT", "END") and second != "PREPARED":
        return Kind.COMMIT
    if first in ("ROLLBACK", "ABORT"):
        return Kind.SAVEPOINT if "TO" in keywords[1:3] else Kind.ROLLBACK
    if first in ("SAVEPOINT", "RELEASE"):
        return Kind.SAVEPOINT
    if first == "VACUUM" or (first == "CLUSTER" and len(keywords) == 1):
        return Kind.NO_TRANSACTION
    if first in ("CREATE", "DROP") and second in ("DATABASE", "TABLESPACE"):
        return Kind.NO_TRANSACTION
    if first == "ALTER" and second == "SYSTEM":
        return Kind.NO_TRANSACTION
    if "CONCURRENTLY" in keywords:
        head = keywords[:4]
        if first in ("CREATE", "DROP", "REINDEX") and ("INDEX" in head or first == "REINDEX"):
            return Kind.NO_TRANSACTION
        if first == "ALTER" and "DETACH" in keywords:
            return Kind.NO_TRANSACTION
        if first == "REFRESH":
            return Kind.REGULAR  # REFRESH MATERIALIZED VIEW CONCURRENTLY runs inside a transaction
    return Kind.REGULAR


def _scan(text: str):  # type: ignore[no-untyped-def]
    from pglast import parser

    return parser.scan(text)


#: Characters handed to PostgreSQL's scanner at once. The scanner works on a whole text, so a long script is
#: read in windows, each starting where a statement ended (where the scanner is between tokens, as at the
#: start of a text); memory then stays flat with the script's size.
SCAN_WINDOW = 1 << 20


class _ScanError(Exception):
    """The scanner's error at an offset of the whole script."""

    def __init__(self, message: str, offset: int, located: bool) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.located = located


def _scan_error(exc: Exception, base: int, text: str) -> _ScanError:
    message = str(exc)
    match = re.search(r"^(.*?)(?: at or near .*)?, at index (\d+)", message, re.DOTALL)
    if match:
        return _ScanError(match.group(1).strip(), base + int(match.group(2)), True)
    return _ScanError(message, base + len(text), False)


def _statement_slices(script: str) -> tuple[slice, ...]:
    """Where each statement stands, as PostgreSQL's scanner cuts the script (pglast.split's slices).

    In windows: a window's last statement may be cut short by the window's end (or the window ends inside a
    string, which the scanner reports as unterminated), so it is read again at the start of the next window,
    which is twice as long when it held no complete statement. Every statement kept ended at a top-level
    semicolon before the window's end, where the scanner saw exactly what it sees in the whole text.
    """
    import pglast

    found: list[slice] = []
    at, size, length = 0, SCAN_WINDOW, len(script)
    while at < length:
        end = min(length, at + size)
        text = script[at:end]
        try:
            pieces = pglast.split(text, with_parser=False, only_slices=True)
        except Exception as exc:
            if end >= length:
                raise _scan_error(exc, at, text) from None
            size *= 2
            continue
        if end < length:
            pieces = pieces[:-1]
            if not pieces:
                size *= 2
                continue
        found.extend(slice(at + p.start, at + p.stop) for p in pieces)
        if end >= length:
            break
        at += pieces[-1].stop
        size = SCAN_WINDOW
    return tuple(found)


#: First words after which kind_of finds nothing but a regular statement, whatever the other words are.
_DATA_STATEMENTS = frozenset({"INSERT", "UPDATE", "DELETE"})
_FIRST_WORD = re.compile(r"([A-Za-z_][A-Za-z0-9_$]*)(?=[ \t\n\r\f(\"]|\Z)")


def _first_word(text: str) -> str | None:
    """The statement's first word, upper-cased, when it is a plain one (no quote, comment or operator joins it)."""
    match = _FIRST_WORD.match(text, _leading_comments_end(text))
    # Interned: a data migration's 100,000s of statements share one "INSERT".
    return sys.intern(match.group(1).upper()) if match else None


def split_statements(script: str, name: str = "") -> list[Statement]:
    statements: list[Statement] = []
    try:
        slices = _statement_slices(script)
    except _ScanError as exc:  # the scanner fails only on unterminated quotes or comments
        offset = exc.offset
        message = exc.message
        where = ""
        if exc.located:
            line = script.count("\n", 0, offset) + 1
            column = offset - script.rfind("\n", 0, offset)
            where = f" at line {line}, column {column}"
        setting = _standard_conformance_off(script, 0, offset)
        if setting is not None:
            raise _standard_conformance_error(script, setting, name, _line_of(script, offset)) from None
        raise PlanError(
            f"{name or 'The script'}: cannot be split into statements: {message}{where}.",
            why="Nothing was applied.",
            hint="Look for an unterminated quote, dollar quote or /* comment.",
        ) from None
    slices = _join_atomic_bodies(script, slices)
    statements.extend(statements_at(script, slices))
    # Rows after COPY ... FROM stdin are data, not SQL; the plan refuses the COPY itself.
    copy = next((i for i, s in enumerate(statements) if s.kind is Kind.COPY_STDIN), None)
    checked = slices if copy is None else slices[:copy + 1]
    refuse_dropped_fragment(script, checked, name, whole=copy is None)
    _refuse_backslash_strings_without_standard_conformance(script, checked, name)
    return statements


def statements_at(script: str, slices: "Sequence[slice]", index: int = 1, line: int = 1,
                  column_base: int = 0) -> Iterator[Statement]:
    """The statements `slices` cut from `script`, numbered from `index`. `script` may be a window of a longer
    file: `line` is the file's line at the window's start, `column_base` how many characters of that line
    come before it."""
    cursor = 0
    for number, piece in enumerate(slices, start=index):
        text = script[piece]
        line += script.count("\n", cursor, piece.start)
        cursor = piece.start
        newline = script.rfind("\n", 0, piece.start)
        column = piece.start - newline if newline >= 0 else column_base + piece.start + 1
        first = _first_word(text)
        if first in _DATA_STATEMENTS:
            # kind_of says REGULAR for these whatever follows: the rest of the words wait until asked for.
            yield Statement(number, script, piece.start, piece.stop, line + _leading_comment_lines(text),
                            Kind.REGULAR, None, line, column, first)
            continue
        keywords = _keywords(text)
        if (keywords[:1] in (("CREATE",), ("DROP",), ("REINDEX",), ("ALTER",)) and "CONCURRENTLY" not in keywords
                and "concurrently" in text[:20000].lower()):
            # Long names or inner comments can push the word past the short prefix: read further.
            keywords = _keywords(text, limit=400, prefix=20000)
        yield Statement(number, script, piece.start, piece.stop, line + _leading_comment_lines(text),
                        kind_of(keywords), keywords, line, column, keywords[0] if keywords else "")


_ROUTINE_HEADS = (("CREATE", "FUNCTION"), ("CREATE", "PROCEDURE"), ("CREATE", "OR", "REPLACE", "FUNCTION"),
                  ("CREATE", "OR", "REPLACE", "PROCEDURE"))
ATOMIC_WORD = re.compile(r"\batomic\b", re.IGNORECASE)


def _join_atomic_bodies(script: str, slices: tuple[slice, ...]) -> tuple[slice, ...]:
    """A routine's `BEGIN ATOMIC ... END` body holds semicolons that do not end the CREATE statement.

    The scanner cuts at every top-level semicolon; the server's grammar reads the body whole. The pieces
    are joined back the way psql does it: in a CREATE [OR REPLACE] FUNCTION|PROCEDURE, outside
    parentheses, BEGIN opens a block, CASE inside one opens another, END closes one.
    """
    if not mentions(script, "atomic") or not ATOMIC_WORD.search(script):
        return slices
    joined: list[slice] = []
    i = 0
    while i < len(slices):
        piece = slices[i]
        text = script[piece]
        keywords = _keywords(text, limit=4)
        if any(keywords[:len(head)] == head for head in _ROUTINE_HEADS) and ATOMIC_WORD.search(text):
            depth, parens = _block_depth(text, 0, 0)
            while depth > 0 and i + 1 < len(slices):
                i += 1
                depth, parens = _block_depth(script[slices[i]], depth, parens)
                piece = slice(piece.start, slices[i].stop)
        joined.append(piece)
        i += 1
    return tuple(joined)


def _block_depth(text: str, depth: int, parens: int) -> tuple[int, int]:
    try:
        tokens = _scan(text)
    except Exception:  # unterminated quote: the split itself reports it
        return 0, 0
    for token in tokens:
        name = token.name
        if name == "ASCII_40":
            parens += 1
        elif name == "ASCII_41":
            parens = max(parens - 1, 0)
        elif parens == 0:
            if name == "BEGIN_P":
                depth += 1
            elif name == "CASE" and depth >= 1:
                depth += 1
            elif name == "END_P" and depth > 0:
                depth -= 1
    return depth, parens


def _line_of(script: str, offset: int) -> int:
    return script.count("\n", 0, offset) + 1


def _first_code(text: str) -> int | None:
    """Offset of the first thing in `text` that is not white space, a comment or a bare semicolon."""
    i = _leading_comments_end(text)
    while i < len(text) and text[i] == ";":
        i += 1 + _leading_comments_end(text[i + 1:])
    return i if i < len(text) else None


def _psql_meta_error(name: str, line: int, command: str) -> PlanError:
    return PlanError(
        f"{name}: line {line} holds `{command}`, a psql meta-command, not SQL.",
        why="Migrations run through a database driver, as with Prisma; only psql understands "
        "backslash commands. Nothing was applied.",
        hint="Remove the line (connect to the right database through the URL instead), or turn it "
        "into plain SQL.",
    )


def refuse_dropped_fragment(script: str, slices: tuple[slice, ...], name: str, whole: bool = True) -> None:
    r"""Refuse what PostgreSQL's scanner leaves out of every statement: text holding no SQL keyword.

    The scanner keeps only pieces with a keyword in them, so a trailing `\gexec`, `GO` or a stray
    `foo;` would otherwise vanish from the plan without a word, although the server rejects it.
    """
    cursor = 0
    for piece in (*slices, slice(len(script), len(script))) if whole else slices:
        gap = script[cursor:piece.start]
        found = _first_code(gap)
        if found is not None:
            offset = cursor + found
            fragment = gap[found:].split("\n", 1)[0].strip().rstrip(";").rstrip()
            fragment = fragment if len(fragment) <= 60 else fragment[:57] + "..."
            line = _line_of(script, offset)
            if fragment.startswith("\\"):
                raise _psql_meta_error(name or "The script", line, fragment.split(None, 1)[0])
            raise PlanError(
                f"{name or 'The script'}: line {line} holds `{fragment}`, which is not an SQL statement.",
                why="It has no SQL keyword, so PostgreSQL would reject it; lumiku-tui does not skip any part "
                "of a migration. Nothing was applied.",
                hint="Remove it (a `GO` batch separator belongs to other tools), or complete the statement "
                "it was meant to be part of.",
            )
        cursor = max(cursor, piece.stop)
    for piece in slices:  # psql's `SELECT ... \gexec`: the meta-command ends a statement, no semicolon
        text = script[piece]
        if "\\" in text and not _strip_leading_comments(text).startswith("\\"):  # a leading one is the plan's to refuse
            backslash = _backslash_token(text)
            if backslash is not None:
                command = (text[backslash:].split(None, 1) or ["\\"])[0]
                raise _psql_meta_error(name or "The script", _line_of(script, piece.start + backslash), command)


def _backslash_token(text: str) -> int | None:
    """Offset of a backslash outside strings, names and comments: never SQL, always psql's."""
    try:
        tokens = _scan(text)
    except Exception:
        return None
    for token in tokens:
        if token.name == "ASCII_92":
            return token.start
    return None


_STANDARD_CONFORMANCE_OFF = re.compile(
    r"standard_conforming_strings\s*(?:=|\bTO\b)\s*(['\"]?)(?:of|off|f|fa|fal|fals|false|n|no|0)\1(?![\w'\"])"
    r"|set_config\s*\(\s*'standard_conforming_strings'\s*,\s*'(?:of|off|f|fa|fal|fals|false|n|no|0)'",
    re.IGNORECASE,
)


def _standard_conformance_off(script: str, start: int, end: int) -> int | None:
    """Where the script turns standard_conforming_strings off, before `end` (or None)."""
    if not mentions(script, "standard_conforming_strings"):
        return None
    match = _STANDARD_CONFORMANCE_OFF.search(script, start, end)
    return match.start() if match else None


def _standard_conformance_error(script: str, setting: int, name: str, string_line: int) -> PlanError:
    return PlanError(
        f"{name or 'The script'}: line {_line_of(script, setting)} turns standard_conforming_strings off, "
        f"and the '...' string at line {string_line} holds a backslash, which that setting makes an escape.",
        why="With the setting off, a backslash in a '...' string escapes the next character, so where each "
        "statement ends depends on a session setting; lumiku-tui reads strings as PostgreSQL does by "
        "default and will not guess. Nothing was applied.",
        hint="Remove the SET and write such strings as E'...' (E'it\\'s' reads the same with the setting on "
        "or off), or double the quote instead ('it''s').",
    )


def _refuse_backslash_strings_without_standard_conformance(script: str, slices: tuple[slice, ...],
                                                           name: str) -> None:
    """With standard_conforming_strings off, '...' strings holding a backslash split differently.

    Until the first backslash inside a plain '...' string both readings agree, so a script is read
    right exactly when no such string follows the setting.
    """
    setting = _standard_conformance_off(script, 0, len(script))
    if setting is None:
        return
    for piece in slices:
        if piece.stop <= setting:
            continue
        text = script[piece]
        if "\\" not in text:
            continue
        for token in _scan(text):
            if token.name == "SCONST" and text[token.start] in "'nN" and "\\" in text[token.start:token.end + 1]:
                offset = piece.start + token.start
                if offset > setting:
                    raise _standard_conformance_error(script, setting, name, _line_of(script, offset))


@dataclass(frozen=True)
class Part:
    """Statements that commit together: up to one of the script's own COMMITs, or to its end.

    Prisma sends a migration as one simple-query string, so PostgreSQL's rules for such a string
    decide what commits together: statements form one implicit transaction, a BEGIN turns it into
    an explicit block (taking the statements before it along), a COMMIT commits everything before
    it, and what follows runs in a new implicit transaction.
    """

    number: int  # 1-based
    statements: tuple[Statement, ...]
    #: The line of the script's COMMIT that ends this part; None: the part ends with the file.
    commit_line: int | None
    #: The exact text of the file this part covers: from the end of the part before it (the start of the
    #: file for part 1) through its own COMMIT (the end of the file for the last part).
    source: str = field(default="", repr=False, compare=False)

    @property
    def first_line(self) -> int:
        return self.statements[0].line

    @property
    def last_line(self) -> int:
        last = self.statements[-1]
        return last.text_line + last.text.rstrip().count("\n")

    @cached_property
    def checksum(self) -> str:
        """sha256 of the part's text byte for byte (comments and blank lines included): a resume skips a
        committed part only when the file still holds exactly what committed."""
        import hashlib

        return hashlib.sha256(self.source.encode("utf-8", "surrogatepass")).hexdigest()

    @property
    def where(self) -> str:
        """Where it commits, for a person."""
        if self.commit_line is None:
            return "at the end of the file"
        return f"at the COMMIT on line {self.commit_line}"


@dataclass(frozen=True)
class MigrationPlan:
    """How one migration will run: the statements to send and whether in a transaction.

    A transactional migration runs in one transaction per part; with more than one part (the
    script commits on its own) it is not atomic, and `left_behind` says what a failure leaves.
    """

    migration: LocalMigration
    statements: tuple[Statement, ...]
    transactional: bool
    wrapped: bool  # the script carried its own BEGIN/COMMIT around everything, which we replace with ours
    all_statements: tuple[Statement, ...]
    parts: tuple[Part, ...] = ()
    #: Said before anything runs: what in this script will not go as it reads.
    warnings: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.migration.name

    @property
    def atomic(self) -> bool:
        """All or nothing: one transaction for the whole migration."""
        return self.transactional and len(self.parts) <= 1

    @property
    def commit_points(self) -> tuple[int, ...]:
        """Lines of the script's own COMMITs that end a part (the last part commits at the end)."""
        return tuple(p.commit_line for p in self.parts[:-1] if p.commit_line is not None)

    def left_behind(self, part: int) -> str:
        """What stays committed if part `part` (1-based) fails."""
        if part <= 1 or not self.parts:
            return "nothing: part 1 is rolled back as a whole"
        kept = self.parts[: part - 1]
        lines = f"lines {kept[0].first_line}-{kept[-1].last_line}"
        return (f"part{'s' if len(kept) > 1 else ''} {', '.join(str(p.number) for p in kept)} ({lines}, "
                f"{sum(len(p.statements) for p in kept)} statement(s)) {'stay' if len(kept) > 1 else 'stays'} "
                "committed")

    def describe_parts(self) -> str:
        """One line for a person; empty for an atomic migration."""
        if len(self.parts) <= 1:
            return ""
        pieces = [f"part {p.number} (lines {p.first_line}-{p.last_line}) commits {p.where}" for p in self.parts]
        return (f"`{self.name}` is not atomic: its own COMMIT splits it into {len(self.parts)} parts, each in its own "
                f"transaction: {'; '.join(pieces)}. If part {len(self.parts)} fails, "
                f"{self.left_behind(len(self.parts))}; a re-run resumes after the last committed part.")


def _refuse_unrunnable(name: str, statements: list[Statement]) -> None:
    for stmt in statements:
        if stmt.kind is Kind.PSQL_META:
            command = _strip_leading_comments(stmt.text).split(None, 1)[0]
            raise PlanError(
                f"{name}: line {stmt.line} holds `{command}`, a psql meta-command, not SQL.",
                why="Migrations run through a database driver, as with Prisma; only psql understands "
                "backslash commands. Nothing was applied.",
                hint="Remove the line (connect to the right database through the URL instead), or turn it "
                "into plain SQL.",
            )
        if stmt.kind is Kind.TWO_PHASE:
            raise PlanError(
                f"{name}: statement {stmt.index} (line {stmt.line}) is `{stmt.summary}`, two-phase commit.",
                why="PREPARE TRANSACTION would leave the migration and its history row in a prepared transaction "
                "that nobody commits: reported applied, holding its locks until someone ends it by hand; "
                "COMMIT/ROLLBACK PREPARED settles another transaction's fate from inside a migration. Nothing "
                "was applied.",
                hint="Remove it: each migration already commits on its own (or at its own COMMIT).",
            )
        if stmt.kind is Kind.COPY_STDIN:
            raise PlanError(
                f"{name}: statement {stmt.index} (line {stmt.line}) is `{stmt.summary}`, which "
                + ("writes rows to the client's standard output." if "STDOUT" in stmt.keywords
                   else "reads rows from the client's standard input."),
                why="A migration file has no standard input or output to copy through (Prisma cannot run it "
                "either). Nothing was applied.",
                hint="Load the data with INSERT ... VALUES statements, or run the COPY with psql outside "
                "the migration.",
            )


_MODE_SETTINGS = ("TRANSACTION", "TRANSACTION_ISOLATION", "TRANSACTION_READ_ONLY", "TRANSACTION_DEFERRABLE")


def _words(text: str) -> list[tuple[str, int]]:
    """Every token but comments, upper-cased, with its offset."""
    return [(text[t.start:t.end + 1].upper(), t.start) for t in _scan(text)
            if t.name not in ("SQL_COMMENT", "C_COMMENT")]


def transaction_modes(stmt: Statement) -> str:
    """The modes a BEGIN / START TRANSACTION sets, as written (empty for none)."""
    words = _words(stmt.text)
    skip = 2 if [w for w, _ in words[:2]] == ["START", "TRANSACTION"] else 1
    if skip == 1 and len(words) > 1 and words[1][0] in ("WORK", "TRANSACTION"):
        skip = 2
    return stmt.text[words[skip][1]:].strip() if len(words) > skip else ""


def _sets_modes(stmt: Statement) -> bool:
    """SET [LOCAL|SESSION] TRANSACTION ... or SET transaction_isolation (and the like): this transaction's modes."""
    if stmt.first_keyword != "SET":
        return False
    words = stmt.keywords
    name = words[2] if len(words) > 2 and words[1] in ("LOCAL", "SESSION") else (words[1] if len(words) > 1 else "")
    return name in _MODE_SETTINGS


def sets_transaction_modes(stmt: Statement) -> bool:
    """A BEGIN with modes (the only BEGIN kept in a part) or a SET TRANSACTION: they act on the transaction itself."""
    return bool(transaction_modes(stmt)) if stmt.kind is Kind.BEGIN else _sets_modes(stmt)


_READ_ONLY_SETTING = re.compile(r"\b(?:default_)?transaction_read_only\s*(?:=|\bTO\b)\s*'?([A-Za-z0-9]*)",
                                re.IGNORECASE)
_OFF = ("off", "of", "false", "fals", "fal", "fa", "f", "no", "n", "0")


def makes_read_only(stmt: Statement) -> bool:
    """Sets this transaction, or (SESSION CHARACTERISTICS, default_transaction_read_only) the next ones, read-only."""
    words = stmt.keywords
    if words[:1] == ("SET",) and {"TRANSACTION_READ_ONLY", "DEFAULT_TRANSACTION_READ_ONLY"} & set(words[:3]):
        match = _READ_ONLY_SETTING.search(stmt.text)
        # Anything but a plain "off" counts as on: refusing a harmless form is safer than missing one.
        return not (match and match.group(1).lower() in _OFF)
    return any(words[i:i + 2] == ("READ", "ONLY") for i in range(len(words) - 1))


def _control_error(name: str, stmt: Statement, what: str, why: str, hint: str) -> PlanError:
    return PlanError(f"{name}: statement {stmt.index} (line {stmt.line}) is `{stmt.summary}`, {what}",
                     why=why + " Nothing was applied.", hint=hint)


def _split_parts(name: str, statements: list[Statement]) -> list[Part]:
    """Cut the script where PostgreSQL commits when the file is sent whole, as one simple query.

    Several statements form one implicit transaction; a BEGIN turns it into an explicit block
    (taking the statements before it along); a COMMIT commits everything before it, and what follows
    runs in a new transaction. A BEGIN that sets modes (isolation level, deferrable) stays in its part,
    where PostgreSQL applies them. Forms whose outcome a deploy in parts could not reproduce are refused
    with their line: a read-only transaction, AND CHAIN, and SAVEPOINT/RELEASE/ROLLBACK TO outside
    BEGIN ... COMMIT (PostgreSQL rejects those there).
    """
    parts: list[Part] = []
    current: list[Statement] = []
    open_begin: Statement | None = None
    for stmt in statements:
        kind = stmt.kind
        if (kind is Kind.BEGIN or stmt.first_keyword == "SET") and makes_read_only(stmt):
            raise _control_error(
                name, stmt, "which makes a transaction read-only.",
                "PostgreSQL refuses every write after it (Prisma fails there too), and lumiku-tui records the "
                "migration in its history within the same transaction, which a read-only one cannot do.",
                "Remove READ ONLY: a migration changes the database.")
        if kind is Kind.BEGIN:
            open_begin = open_begin or stmt
            if not transaction_modes(stmt):
                continue
            # Its modes apply where it stands, and only if no query of this transaction came before
            # (unless they change nothing): sent at the same place inside the part's transaction, it
            # gets exactly that verdict from PostgreSQL (with a warning that a transaction is in progress).
        if kind is Kind.COMMIT:
            if "CHAIN" in stmt.keywords and "NO" not in stmt.keywords:
                raise _control_error(
                    name, stmt, "which commits and opens a new transaction with the same modes.",
                    "PostgreSQL accepts AND CHAIN only inside BEGIN ... COMMIT, and lumiku-tui runs each part "
                    "of a migration in a transaction of its own.",
                    "Write COMMIT; followed by a BEGIN with the modes you need.")
            if current:
                parts.append(Part(len(parts) + 1, tuple(current), stmt.line))
            current, open_begin = [], None
            continue
        if kind is Kind.ROLLBACK:
            raise PlanError(
                f"{name}: statement {stmt.index} (line {stmt.line}) is `{stmt.summary}`, which throws away "
                "the statements before it.",
                why="Run as written (as Prisma runs it), the work before it since the last COMMIT is undone while "
                "the migration is recorded as applied. Nothing was applied.",
                hint="Remove the ROLLBACK together with the statements it is meant to undo.",
            )
        if kind is Kind.SAVEPOINT and open_begin is None:
            raise _control_error(
                name, stmt, "outside BEGIN ... COMMIT.",
                f"PostgreSQL refuses {stmt.keywords[0]} outside a transaction block (SQLSTATE 25P01), so Prisma "
                "fails at this statement, after committing whatever precedes it.",
                "Put BEGIN; before the SAVEPOINT and COMMIT; after the statements it guards, or remove it.")
        current.append(stmt)
    if open_begin is not None and current:
        raise PlanError(
            f"{name}: the BEGIN on line {open_begin.line} is never committed.",
            why="Run as written, the statements after it stay in an open transaction that no COMMIT ends; what "
            "happens to them depends on the tool running the file. Nothing was applied.",
            hint="Add COMMIT; after the last statement of the block, or remove the BEGIN.",
        )
    if current:
        parts.append(Part(len(parts) + 1, tuple(current), None))
    return parts


def _refuse_unparsable(name: str, parts: list[Part]) -> None:
    """A statement PostgreSQL's grammar rejects, in a migration that commits in parts.

    PostgreSQL parses the whole query string before running any of it: sent whole, as Prisma sends
    it, the file runs not at all. Run part by part, the parts before the statement would commit
    first; in a one-part migration nothing commits either way, and the deploy reports the error
    where the server finds it.
    """
    from pglast import parser

    for part in parts[1:]:
        for stmt in part.statements:
            try:
                parser.parse_sql(stmt.text)
            except parser.ParseError as exc:
                message = str(exc)
                match = re.search(r"^(.*?), at index (\d+)$", message, re.DOTALL)
                where = stmt.location(int(match.group(2)) + 1) if match else None
                at = f"line {where[0]}, column {where[1]}" if where else f"line {stmt.line}"
                raise PlanError(
                    f"{name}: statement {stmt.index} ({at}) does not parse: {match.group(1) if match else message}.",
                    why=f"PostgreSQL reads the whole file before running any of it, so sent whole (as Prisma "
                    f"sends it) none of it runs; run in parts, the {part.number - 1} part(s) before it would "
                    "commit first. Nothing was applied.",
                    hint="Fix the statement, then deploy again.",
                ) from None


def _needs_block(stmt: Statement) -> bool:
    """LOCK and DECLARE CURSOR (without HOLD): PostgreSQL runs them only inside a transaction block."""
    words = stmt.keywords
    if words[:1] == ("LOCK",):
        return True
    return words[:1] == ("DECLARE",) and not any(words[i:i + 2] == ("WITH", "HOLD") for i in range(len(words) - 1))


_COMMITS = re.compile(r"\b(?:COMMIT|ROLLBACK)\b", re.IGNORECASE)


def may_commit(stmt: Statement) -> bool:
    """A DO block whose body holds COMMIT or ROLLBACK, or a CALL (its procedure may commit).

    PostgreSQL lets them commit only outside a transaction block: when the statement is alone in
    the query string. A word found in a comment or a string only costs the atomic wrapper.
    """
    first = stmt.keywords[:1]
    return first == ("CALL",) or (first == ("DO",) and bool(_COMMITS.search(stmt.text)))


def plan_migration(migration: LocalMigration) -> MigrationPlan:
    """How `migration` runs, split afresh (apply/plan.py's `plan_of` is the memoised way in)."""
    name = migration.name
    statements = split_statements(migration.script, f"{name}/migration.sql")
    _refuse_unrunnable(name, statements)
    parts = _with_sources(migration.script, statements, _split_parts(name, statements))
    if len(parts) > 1:
        _refuse_unparsable(name, parts)
    body = [stmt for part in parts for stmt in part.statements]
    wrapped = (len(parts) == 1 and len(statements) >= 2 and statements[0].kind is Kind.BEGIN
               and statements[-1].kind is Kind.COMMIT)
    no_tx = [s for s in body if s.kind is Kind.NO_TRANSACTION]
    if len(statements) == 1 and _needs_block(statements[0]):
        stmt = statements[0]
        raise _control_error(
            name, stmt, "alone in its file.",
            f"Sent alone, as Prisma sends the file, it runs outside any transaction block, where PostgreSQL "
            f"refuses {stmt.keywords[0]} (SQLSTATE 25P01): Prisma fails here.",
            "Move it into the migration whose statements it is meant to serve, or remove it.")
    if len(statements) == 1 and (no_tx or (body and may_commit(body[0]))):
        # Alone in its file, as Prisma sends it: PostgreSQL runs it outside any transaction block.
        return MigrationPlan(migration, tuple(body), False, False, tuple(statements), tuple(parts))
    warnings = tuple(
        f"{name}: statement {stmt.index} (line {stmt.line}), `{stmt.summary}`, cannot run inside a transaction, "
        f"and it shares its file with {len(statements) - 1} other statement(s): PostgreSQL refuses it there "
        "(SQLSTATE 25001), under Prisma as here. The deploy will fail at that statement"
        + (f"; {plan_left}" if (plan_left := _left_before(parts, stmt)) else "")
        + f". Move it into a migration of its own (a folder named after {name}, so it sorts right after it)."
        for stmt in no_tx
    )
    return MigrationPlan(migration, tuple(body), True, wrapped, tuple(statements), tuple(parts), warnings)


def _with_sources(script: str, statements: list[Statement], parts: list[Part]) -> list[Part]:
    """Each part with the exact text it covers, so that its checksum sees every byte of the file up to its COMMIT."""
    by_index = {s.index: s for s in statements}
    sourced: list[Part] = []
    begin = 0
    for part in parts:
        end = len(script)
        if part.commit_line is not None:
            after = part.statements[-1].index + 1
            commit = next((by_index[i] for i in range(after, len(statements) + 1)
                           if by_index[i].kind is Kind.COMMIT), None)
            if commit is not None:
                end = commit.start + len(commit.text)
                if script.startswith(";", end):
                    end += 1
        sourced.append(dataclasses.replace(part, source=script[begin:end]))
        begin = end
    return sourced


def _left_before(parts: list[Part], stmt: Statement) -> str:
    number = next(p.number for p in parts if stmt in p.statements)
    if number == 1:
        return ""
    if number == 2:
        return "part 1 before it stays committed"
    return f"parts 1-{number - 1} before it stay committed"
