"""The query language of the ``query`` parameter (docs/query.md): parsed once into a small
tree, checked against the fields of :mod:`logcycle.kinds`, then compiled per kind into SQL
by :mod:`logcycle.query.compile`.

    >>> q = parse('screen:Checkout duration_ms:>500 -user_id:ada')
    >>> q.fields()
    ('duration_ms', 'screen', 'user_id')
    >>> parse('payment OR "stock service"').expr.items[1]
    Term(field=None, op='phrase', value='stock service', pos=11)

The grammar is :data:`GRAMMAR` (also in docs/query.md and the OpenAPI document).

Errors are :class:`~logcycle.errors.BadRequest` naming the ``query`` parameter and the
position (counted from 0) where reading stopped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from logcycle.errors import BadRequest, FieldError
from logcycle.kinds import KINDS, FieldType

GRAMMAR = """\
query   := or
or      := and ("OR" and)*
and     := unary (["AND"] unary)*
unary   := ("NOT" | "-") unary | "(" or ")" | term
term    := FIELD ":" value | FIELD ":" "(" or-of-values ")" | FIELD ":in(" v ("," v)* ")"
         | WORD | "PHRASE"
value   := "*" | ">" v | ">=" v | "<" v | "<=" v | v        (v: a WORD or a "PHRASE")
FIELD   := name | root ("." key)+        (key: a name, or "a key.with dots" in quotes)
"""
# AND binds tighter than OR; two terms side by side are an AND; a bare WORD or "PHRASE"
# searches the message; FIELD is a field of some kind, id, insert_instant, error_id, kind,
# or attributes.<path> (msg.<path>, request_event_details.<path>).
MAX_LENGTH = 4096
MAX_TERMS = 200
MAX_DEPTH = 32
# Roots of ``<root>.<path>``: JSON columns whose inside a query may reach.
JSON_ROOTS: frozenset[str] = frozenset(
    {"attributes"} | {f.name for k in KINDS.values() for f in k.fields
                      if f.type in (FieldType.JSON, FieldType.OBJECT)})
# The columns every table has, and the pseudo-field ``kind``.
BUILTIN: dict[str, FieldType] = {"id": FieldType.NUMBER, "insert_instant": FieldType.INSTANT,
                                 "error_id": FieldType.NUMBER, "attributes": FieldType.JSON}


def _field_types() -> dict[str, FieldType]:
    types: dict[str, FieldType] = dict(BUILTIN)
    for kind in KINDS.values():
        for f in kind.fields:
            if f.type is not FieldType.ERROR:  # the inline error is stored apart (error_id)
                types[f.name] = f.type
    return types


FIELD_TYPES: dict[str, FieldType] = _field_types()
COMPARISONS = (">=", "<=", ">", "<")
PATH_HINT = ('; a path is keys joined by dots, a key with dots in double quotes: '
             'attributes.user.id, attributes."service.version"')


@dataclass(frozen=True, slots=True)
class Term:
    """One condition. ``field`` None: the message (a bare word or phrase). ``op``: ``eq``,
    ``like`` (a ``*`` pattern; for the message, the Event Log wildcard rule), ``phrase``
    (the message contains it), ``present``, or a comparison ``> >= < <=``. ``value`` is
    typed by the field: str, float (numbers), int (instants, ids) or bool."""

    field: str | None
    op: str
    value: str | float | int | bool | None
    pos: int


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Not:
    item: Expr


Expr = Term | And | Or | Not


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: its text and its tree."""

    text: str
    expr: Expr

    def terms(self) -> list[Term]:
        out: list[Term] = []
        _walk(self.expr, out)
        return out

    def fields(self) -> tuple[str, ...]:
        """The fields the query names (sorted; ``attributes.x`` as written)."""
        return tuple(sorted({t.field for t in self.terms() if t.field is not None}))


def _walk(e: Expr, out: list[Term]) -> None:
    if isinstance(e, Term):
        out.append(e)
    elif isinstance(e, Not):
        _walk(e.item, out)
    else:
        for item in e.items:
            _walk(item, out)


def query_error(text: str, pos: int, message: str, hint: str = "") -> BadRequest:
    """A 400 naming ``query`` and the position, with the text around it (and a hint)."""
    near = text[pos:pos + 20]
    where = f"at position {pos} (near {near!r})" if near else f"at position {pos} (the end)"
    detail = f"{message} {where}{hint}"
    return BadRequest(f"query: {detail}", code="invalid_query",
                      errors=[FieldError(field="query", message=detail)])


def field_path(name: str) -> tuple[str, list[str]] | None:
    """The column and the JSON keys of a field name (None: malformed). A key in double
    quotes may hold dots, as OpenTelemetry's flat attribute names do.

    >>> field_path('attributes.user.id'), field_path('attributes."service.version"')
    (('attributes', ['user', 'id']), ('attributes', ['service.version']))
    >>> field_path('duration_ms'), field_path('attributes.a..b'), field_path('attributes."x')
    (('duration_ms', []), None, None)
    """
    root, dot, rest = name.partition(".")
    keys: list[str] = []
    i = 0
    while dot:
        if rest.startswith('"', i):
            end = rest.find('"', i + 1)
            if end <= i + 1:
                return None
            keys.append(rest[i + 1:end])
            i = end + 1
        else:
            end = len(rest) if (e := rest.find(".", i)) < 0 else e
            if end == i or '"' in rest[i:end]:
                return None
            keys.append(rest[i:end])
            i = end
        if i == len(rest):
            break
        if rest[i] != ".":
            return None
        i += 1
        if i == len(rest):
            return None
    return root, keys


def field_type(name: str) -> FieldType | None:
    """The type of a field a query may name; JSON paths (``attributes.user_id``,
    ``attributes."service.version"``) are ``JSON``; None for an unknown name."""
    if "." in name:
        path = field_path(name)
        return FieldType.JSON if path is not None and path[0] in JSON_ROOTS else None
    if name == "kind":
        return FieldType.TEXT
    return FIELD_TYPES.get(name)


def known_fields() -> list[str]:
    return sorted([*FIELD_TYPES, "kind", *(f"{r}.<path>" for r in sorted(JSON_ROOTS))])


# -- tokens -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "word", "phrase", "(", ")", ",", "-", "field", "op", "end"
    text: str
    pos: int


_SPECIAL = set('()",')
_FIELD_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.")


def _phrase(text: str, i: int) -> tuple[str, int]:
    """The phrase starting at the quote ``text[i]``: its value and the index after it.
    ``\\"`` and ``\\\\`` are a quote and a backslash."""
    out: list[str] = []
    j = i + 1
    while j < len(text):
        c = text[j]
        if c == "\\" and j + 1 < len(text) and text[j + 1] in '"\\':
            out.append(text[j + 1])
            j += 2
        elif c == '"':
            return "".join(out), j + 1
        else:
            out.append(c)
            j += 1
    raise query_error(text, i, "unclosed quote")


def _word_end(text: str, i: int) -> int:
    j = i
    while j < len(text) and not text[j].isspace() and text[j] not in _SPECIAL:
        j += 1
    return j


def tokenize(text: str) -> list[Token]:
    toks: list[Token] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c == '"':
            value, j = _phrase(text, i)
            toks.append(Token("phrase", value, i))
            i = j
        elif c in "(),":
            toks.append(Token(c, c, i))
            i += 1
        elif c == "-" and i + 1 < len(text) and not text[i + 1].isspace() \
                and (not toks or toks[-1].kind in ("(", "-", "word", "phrase", ")")):
            toks.append(Token("-", c, i))
            i += 1
        else:
            i = _word_or_field(text, i, toks)
    toks.append(Token("end", "", len(text)))
    return toks


def _word_or_field(text: str, i: int, toks: list[Token]) -> int:
    j = i
    while j < len(text):
        if text[j] in _FIELD_CHARS:
            j += 1
        elif text[j] == '"' and j > i and text[j - 1] == "." \
                and (end := text.find('"', j + 1)) > j:  # a quoted key: "service.version"
            j = end + 1
        else:
            break
    if j < len(text) and text[j] == ":" and j > i and (text[i].isalpha() or text[i] == "_"):
        toks.append(Token("field", text[i:j], i))
        return _value_tokens(text, j + 1, toks)
    end = _word_end(text, i)
    toks.append(Token("word", text[i:end], i))
    return end


def _value_tokens(text: str, i: int, toks: list[Token]) -> int:
    """After ``field:``: an optional comparison, then a word, a phrase, ``(`` or ``in(``."""
    for op in COMPARISONS:
        if text.startswith(op, i):
            toks.append(Token("op", op, i))
            i += len(op)
            break
    if text.startswith("in(", i):
        toks.append(Token("op", "in", i))
        return i + 2
    if i < len(text) and text[i] == '"':
        value, j = _phrase(text, i)
        toks.append(Token("phrase", value, i))
        return j
    if i < len(text) and text[i] == "(":
        return i
    end = _word_end(text, i)
    toks.append(Token("word", text[i:end], i))  # may be empty: the parser names it
    return end


# -- parser -------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.terms = 0

    def peek(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: Token, message: str, hint: str = "") -> BadRequest:
        return query_error(self.text, tok.pos, message, hint)

    def expect(self, kind: str, what: str) -> Token:
        tok = self.take()
        if tok.kind != kind:
            got = "the end of the query" if tok.kind == "end" else repr(tok.text)
            raise self.fail(tok, f"expected {what}, got {got}")
        return tok

    def parse(self) -> Expr:
        expr = self.or_(0, None)
        tok = self.peek()
        if tok.kind != "end":
            raise self.fail(tok, f"unexpected {tok.text!r}" + (
                " (no opening parenthesis)" if tok.kind == ")" else ""))
        return expr

    def or_(self, depth: int, field: Token | None) -> Expr:
        items = [self.and_(depth, field)]
        while self.is_word("OR"):
            self.take()
            items.append(self.and_(depth, field))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.text == word

    def and_(self, depth: int, field: Token | None) -> Expr:
        items = [self.unary(depth, field)]
        while True:
            tok = self.peek()
            if tok.kind in ("end", ")", ",") or self.is_word("OR"):
                break
            if self.is_word("AND"):
                self.take()
            items.append(self.unary(depth, field))
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self, depth: int, field: Token | None) -> Expr:
        if depth > MAX_DEPTH:
            raise self.fail(self.peek(), f"nested deeper than {MAX_DEPTH} levels")
        tok = self.peek()
        if tok.kind == "-" or self.is_word("NOT"):
            self.take()
            return Not(self.unary(depth + 1, field))
        if tok.kind == "(":
            self.take()
            inner = self.or_(depth + 1, field)
            self.expect(")", "')'")
            return inner
        return self.term(field)

    def term(self, field: Token | None) -> Expr:
        tok = self.take()
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.fail(tok, f"more than {MAX_TERMS} terms")
        if field is not None:  # inside field:( … ): a value of that field
            self.i -= 1
            return self.value(field)
        if tok.kind == "field":
            return self.field_term(tok)
        if tok.kind == "phrase":
            return Term(None, "phrase", tok.text, tok.pos)
        if tok.kind == "word" and tok.text not in ("AND", "OR", "NOT"):
            return Term(None, "like", tok.text, tok.pos)
        got = "the end of the query" if tok.kind == "end" else repr(tok.text)
        raise self.fail(tok, f"expected a term, got {got}")

    def field_term(self, field: Token) -> Expr:
        if field_type(field.text) is None:
            if field.text.partition(".")[0] in JSON_ROOTS:
                raise self.fail(field, f"malformed path {field.text!r}", PATH_HINT)
            raise self.fail(field, f"unknown field {field.text!r}",
                            f"; fields: {', '.join(known_fields())}")
        tok = self.peek()
        if tok.kind == "op" and tok.text == "in":
            return self.in_list(field)
        if tok.kind == "(":
            self.take()
            inner = self.or_(1, field)
            self.expect(")", "')'")
            return inner
        return self.value(field)

    def in_list(self, field: Token) -> Expr:
        self.take()
        self.expect("(", "'(' after in")
        items = [self.value(field)]
        while self.peek().kind == ",":
            self.take()
            items.append(self.value(field))
        self.expect(")", "')' or ',' in the in(…) list")
        return items[0] if len(items) == 1 else Or(tuple(items))

    def value(self, field: Token) -> Term:
        op = "eq"
        tok = self.take()
        if tok.kind == "op" and tok.text != "in":
            op = tok.text
            tok = self.take()
        if op == "eq" and tok.kind == "word":  # inside field:( … ): ">500" is one word
            op, tok = _split_comparison(tok)
            if not tok.text and self.peek().kind == "phrase":
                tok = self.take()
        if tok.kind not in ("word", "phrase") or (tok.kind == "word" and not tok.text):
            got = "the end of the query" if tok.kind == "end" else repr(tok.text or " ")
            raise self.fail(tok, f"expected a value for {field.text}, got {got}")
        return typed_term(self.text, field.text, op, tok)


def _split_comparison(tok: Token) -> tuple[str, Token]:
    for op in COMPARISONS:
        if tok.text.startswith(op):
            return op, Token("word", tok.text[len(op):], tok.pos + len(op))
    return "eq", tok


def typed_term(text: str, field: str, op: str, tok: Token) -> Term:
    """The term ``field <op> tok``, its value converted to the field's type."""
    ftype = field_type(field)
    assert ftype is not None
    raw, quoted = tok.text, tok.kind == "phrase"
    if not quoted and raw == "*" and op == "eq":
        return Term(field, "present", None, tok.pos)
    wild = not quoted and "*" in raw
    if op in COMPARISONS:
        if wild:
            raise query_error(text, tok.pos, f"{field}: a comparison takes no * wildcard")
        return Term(field, op, _ordered(text, field, ftype, raw, tok.pos), tok.pos)
    if wild:
        if ftype not in (FieldType.TEXT, FieldType.LONG, FieldType.JSON):
            raise query_error(text, tok.pos, f"{field}: * wildcards apply to text fields only")
        return Term(field, "like", raw, tok.pos)
    return Term(field, "eq", _equal(text, field, ftype, raw, tok.pos), tok.pos)


def _ordered(text: str, field: str, ftype: FieldType, raw: str, pos: int) -> float | int:
    if ftype is FieldType.INSTANT:
        return parse_instant(text, raw, pos)
    if ftype is FieldType.JSON:  # a number, or an instant kept as epoch ms
        try:
            return _number(raw)
        except ValueError:
            return parse_instant(text, raw, pos)
    if ftype is FieldType.NUMBER:
        return _number_or_fail(text, field, raw, pos)
    raise query_error(text, pos, f"{field} is {ftype.value}: comparisons apply to numbers "
                      "and instants")


def _equal(text: str, field: str, ftype: FieldType, raw: str,
           pos: int) -> str | float | int | bool:
    if ftype is FieldType.INSTANT:
        return parse_instant(text, raw, pos)
    if ftype is FieldType.NUMBER:
        return _number_or_fail(text, field, raw, pos)
    if ftype is FieldType.BOOL:
        low = raw.lower()
        if low not in ("true", "false"):
            raise query_error(text, pos, f"{field} is true or false, got {raw[:40]!r}")
        return low == "true"
    return raw


def _number(raw: str) -> float:
    n = float(raw)
    if n != n or n in (float("inf"), float("-inf")):
        raise ValueError(raw)
    return n


def _number_or_fail(text: str, field: str, raw: str, pos: int) -> float:
    try:
        return _number(raw)
    except ValueError:
        raise query_error(text, pos, f"{field} is a number, got {raw[:40]!r}") from None


def parse_instant(text: str, raw: str, pos: int) -> int:
    """Epoch ms (digits) or ISO 8601 (without an offset: UTC)."""
    if raw.isascii() and raw.isdigit() and len(raw) <= 15:
        return int(raw)
    try:
        dt = datetime.fromisoformat(raw)
    except ValueError:
        raise query_error(text, pos, f"expected an instant (ISO 8601 or epoch ms), got "
                          f"{raw[:40]!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def parse(text: str) -> Query:
    """Parse a query; a 400 (BadRequest naming ``query`` and the position) if it is not
    one. Field names are checked here; which kinds have them, when compiled."""
    if len(text) > MAX_LENGTH:
        raise query_error(text, MAX_LENGTH, f"longer than {MAX_LENGTH} characters")
    if not text.strip():
        raise query_error(text, 0, "empty query")
    return Query(text, _Parser(text).parse())
