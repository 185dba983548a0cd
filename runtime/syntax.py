"""One-line messages for JSON and YAML syntax errors in a person's files, without snippets.

PyYAML and json quote the offending line in their messages, and a connection file's
offending line is often its token. Every place that parses a user's file (connection
files, ``--inputs``, flows, saved connections) reports a syntax error through
``syntax_error_text``: the file, the line and column, and what is wrong, in one line.
"""

from __future__ import annotations

import json
import re

from intercom_connector.runtime.errors import InputProblem, InputValidationError

#: a quoted word in a parser's problem ('<scalar>', ','): kept only when it cannot be the file's
#: text, since tags, anchors and aliases are quoted whole and may be a secret
_QUOTED = re.compile(r"'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"")
_PARSER_WORD = re.compile(r"^['\"](<[a-z ]+>|\\?.)['\"]$")
_POSITION_WORDS = re.compile(r"\s+(starting )?at$")


#: what a file nested too deeply for the parser (which recurses a level a call) gets
TOO_DEEP = "it is nested too deeply (hundreds of levels of [ or {) to be read"


def _without_file_text(problem: str) -> str:
    return _QUOTED.sub(lambda m: m[0] if _PARSER_WORD.match(m[0]) else "'...'", problem).strip()


def syntax_error_text(source: str, error: Exception, text: str = "") -> str:
    """``SOURCE: line L, column C: problem`` for a YAML, JSON or UTF-8 decoding error (or
    a RecursionError: a document nested too deeply to parse).

    ``text`` is what was parsed; it is needed only to place a YAML reader error (a
    character YAML does not allow), which knows its offset but not its line.
    """
    import yaml  # only ever called with an error in hand

    where: tuple[int, int] | None = None
    if isinstance(error, json.JSONDecodeError):
        # json's messages end where it appends the position: "Invalid control character at"
        where, problem = (error.lineno, error.colno), _POSITION_WORDS.sub("", error.msg)
    elif isinstance(error, UnicodeDecodeError):
        data, start = bytes(error.object), error.start
        where = (data.count(b"\n", 0, start) + 1, start - data.rfind(b"\n", 0, start))
        problem = f"not UTF-8 text (byte 0x{data[start]:02x})"
    elif isinstance(error, yaml.reader.ReaderError):
        at = error.position
        where = (text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)) if text else None
        problem = f"{error.reason} (character #x{error.character:04x})"
    elif isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = (mark.line + 1, mark.column + 1) if mark else None
        problem = error.problem or error.context or "not valid YAML"
        if error.problem and error.context:
            problem += f" ({error.context})"
    elif isinstance(error, RecursionError):  # json's parser: no place known
        problem = TOO_DEEP
    else:
        problem = f"not valid JSON or YAML ({type(error).__name__})"
    place = f"line {where[0]}, column {where[1]}: " if where else ""
    return f"{source}: {place}{_without_file_text(problem)}"


class InputFileError(InputValidationError):
    """A file given as input (a flow, ``--inputs``) cannot be used: exit 2, in one line."""

    def __init__(self, label: str, key: str, message: str) -> None:
        super().__init__(label, [InputProblem(key, key, message)])
        self.args = (message,)  # str() is this one line, not the list of problems
