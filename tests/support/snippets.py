"""The code blocks of the docs, as written: a block is marked by `<!-- snippet: NAME -->` on the line
before its opening fence, and the tests run exactly that text (so a doc that breaks fails a test)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support import ROOT

_BLOCK = re.compile(r"<!-- snippet: ([\w-]+) -->\n```[\w]*\n(.*?)\n```", re.DOTALL)


def snippets(doc: str | Path) -> dict[str, str]:
    """Every marked block of a doc (a path relative to docs/, or absolute), by name."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    found: dict[str, str] = {}
    for name, body in _BLOCK.findall(text):
        assert name not in found, f"{doc}: two snippets named {name!r}"
        found[name] = body + "\n"
    return found


def snippet(doc: str | Path, name: str) -> str:
    blocks = snippets(doc)
    assert name in blocks, f"{doc} has no snippet {name!r} (has {sorted(blocks)})"
    return blocks[name]
