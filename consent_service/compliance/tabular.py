"""One writer for what auditors download, record exports and the access log alike: NDJSON (one
JSON object per line) or CSV (a header row, then a row per entry), built a row at a time so
output streams in constant memory.

Values come in ready to write: `text` (a str or None), `int`, `bool`, `json` (JSON text already
serialized, written verbatim in NDJSON and as one quoted field in CSV) and `time` (an ISO-8601
string).

CSV is opened in spreadsheets, so a text field that starts with `=`, `+`, `-`, `@`, a tab or a
carriage return (a formula) is written with a leading `'`, and so is one that starts with `'`
itself: a reader removes exactly one leading `'` from any text field that has one and gets the
original back, so `=x` (written `'=x`) and `'=x` (written `''=x`) stay apart. NDJSON is verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

FORMATS = ("ndjson", "csv")
MIMETYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
_json_string = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]
_DEFUSE_START = frozenset("=+-@\t\r'")


def csv_text(value: str | None) -> str:
    """A CSV text field: formulas (and a leading quote) defused, quoted when it must be."""
    if value is None:
        return ""
    if value and value[0] in _DEFUSE_START:
        value = "'" + value
    if '"' in value or "," in value or "\n" in value or "\r" in value:
        return '"' + value.replace('"', '""') + '"'
    return value


def _csv_quoted(value: str | None) -> str:
    return "" if value is None else '"' + value.replace('"', '""') + '"'


def _ndjson_text(value: str | None) -> str:
    return "null" if value is None else _json_string(value)


def _ndjson_raw(value: str | None) -> str:
    return "null" if value is None else value


def _ndjson_time(value: str | None) -> str:
    return "null" if value is None else '"' + value + '"'


def _number(value: int | None) -> str:
    return "" if value is None else str(int(value))


def _ndjson_number(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def _csv_bool(value: bool | None) -> str:
    return "" if value is None else ("true" if value else "false")


def _ndjson_bool(value: bool | None) -> str:
    return "null" if value is None else ("true" if value else "false")


def _csv_plain(value: str | None) -> str:
    return "" if value is None else value


_ENCODERS: dict[str, dict[str, Callable[[Any], str]]] = {
    "ndjson": {"text": _ndjson_text, "int": _ndjson_number, "bool": _ndjson_bool, "json": _ndjson_raw,
               "time": _ndjson_time},
    "csv": {"text": csv_text, "int": _number, "bool": _csv_bool, "json": _csv_quoted, "time": _csv_plain},
}


class TabularWriter:
    """Rows of fixed columns (name, kind) as NDJSON lines or CSV rows."""

    def __init__(self, fmt: str, columns: Sequence[tuple[str, str]]) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}")
        self.fmt = fmt
        self.names = [name for name, _ in columns]
        encoders = _ENCODERS[fmt]
        if fmt == "ndjson":
            self._cells = [(_json_string(name) + ":", encoders[kind]) for name, kind in columns]
        else:
            self._cells = [("", encoders[kind]) for _, kind in columns]

    def header(self) -> str:
        """What comes before the first row: the CSV header, nothing for NDJSON."""
        return ",".join(self.names) + "\n" if self.fmt == "csv" else ""

    def row(self, values: Sequence[Any]) -> str:
        cells = ",".join([prefix + encode(value) for (prefix, encode), value in zip(self._cells, values, strict=True)])
        return "{" + cells + "}\n" if self.fmt == "ndjson" else cells + "\n"

    def trailer(self, summary: dict[str, Any]) -> str:
        """The closing summary: a `{"summary": …}` line, or a `#summary` row with the same JSON."""
        text = json.dumps({"summary": summary}, separators=(",", ":"))
        return text + "\n" if self.fmt == "ndjson" else "#summary," + _csv_quoted(text) + "\n"
