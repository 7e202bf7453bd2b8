"""Just enough of a GraphQL document to route it: the operation's root
field, and the arguments written on any field (or directive) with the
chain of fields it sits in. Not a parser: selection sets are not read —
the sandbox always answers with full node shapes.

    scan('query Q($n: Int!) { orders(first: $n) { nodes { id } } }')
    → root 'orders', fields [Field(path=('Q',), name='orders',
                                   args='first: $n'), ...]
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

TOKEN = re.compile(r'''
    "(?:[^"\\]|\\.)*"        # a string
  | \#[^\n]*                 # a comment
  | \.\.\.                   # a spread
  | [_A-Za-z]\w*             # a name
  | -?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?
  | [^\s,]                   # punctuation
''', re.VERBOSE)
ARGUMENT = re.compile(r'''
    (\w+) \s* : \s*
    ( \$\w+ | "(?:[^"\\]|\\.)*" | -?\d+(?:\.\d+)? | [A-Za-z_]\w* )
''', re.VERBOSE)


class Unset:
    "An argument or variable that was not given (unlike an explicit null)"

    def __repr__(self) -> str:
        return 'UNSET'


UNSET = Unset()


@dataclass(frozen=True)
class Field:
    path: tuple[str, ...]   # the fields (or operation) enclosing it
    name: str               # '@name' for a directive
    args: str               # the text between its parentheses


@dataclass(frozen=True)
class Document:
    root: str | None
    fields: tuple[Field, ...]

    def field(self, name: str, *, root: bool = False,
            outside: tuple[str, ...] = ()) -> Field | None:
        """The first field called name (the root one when root), not
        nested in any of the fields named in outside"""
        for found in self.fields:
            if found.name != name:
                continue
            if root and len(found.path) != 1:
                continue
            if any(part in outside for part in found.path):
                continue
            return found
        return None


@functools.lru_cache(maxsize=256)
def scan(query: str) -> Document:
    "The root field and every field written with arguments"
    tokens = [(m.group(), m.start(), m.end()) for m in TOKEN.finditer(query)
        if not m.group().startswith('#')]
    fields: list[Field] = []
    stack: list[str] = []
    root = None
    last: str | None = None
    in_fragment = False
    i = 0
    while i < len(tokens):
        text = tokens[i][0]
        following = tokens[i + 1][0] if i + 1 < len(tokens) else ''
        previous = tokens[i - 1][0] if i else ''
        if text == '{':
            stack.append(last or '')
            last = None
        elif text == '}':
            if stack:
                stack.pop()
            if not stack:
                in_fragment = False
            last = None
        elif text == '(':
            depth, j = 1, i + 1
            while j < len(tokens) and depth:
                if tokens[j][0] == '(':
                    depth += 1
                elif tokens[j][0] == ')':
                    depth -= 1
                j += 1
            end = tokens[j - 1][1] if depth == 0 else len(query)
            if last:
                fields.append(Field(tuple(stack), last,
                        query[tokens[i][2]:end]))
            i = j
            continue
        elif text[0].isalpha() or text[0] == '_':
            if not stack and text == 'fragment':
                in_fragment = True
            if previous == '$' or following == ':':
                pass            # a variable, an alias or an argument name
            elif previous == '@':
                last = '@' + text
            else:
                last = text
                if (root is None and len(stack) == 1 and not in_fragment
                        and previous != '...'):
                    root = text
        i += 1
    return Document(root, tuple(fields))


def arguments(text: str, variables: dict[str, Any]) -> dict[str, Any]:
    """A field's arguments: variables resolved (UNSET when the request
    does not give them), literals read"""
    result: dict[str, Any] = {}
    for name, value in ARGUMENT.findall(text):
        if value.startswith('$'):
            result[name] = variables.get(value[1:], UNSET)
        elif value.startswith('"'):
            result[name] = json.loads(value)
        elif value in ('true', 'false'):
            result[name] = value == 'true'
        elif value == 'null':
            result[name] = None
        elif re.fullmatch(r'-?\d+', value):
            result[name] = int(value)
        elif re.fullmatch(r'-?\d+\.\d+', value):
            result[name] = float(value)
        else:
            result[name] = value        # an enum value
    return result
