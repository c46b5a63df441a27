"""The docs show code from example_dags/ only: every marked snippet must match the example it names."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
_SNIPPET = re.compile(r"# \[START (?P<name>\w+)\]\n(?P<body>.*?)\n\s*# \[END (?P=name)\]", re.DOTALL)
_DOC_BLOCK = re.compile(r"<!-- example: (?P<file>[\w/.]+) (?P<name>\w+) -->\n```python\n(?P<body>.*?)```", re.DOTALL)


def _snippets() -> dict[tuple[str, str], str]:
    found = {}
    for path in sorted((REPO_ROOT / "example_dags").glob("*.py")):
        for match in _SNIPPET.finditer(path.read_text()):
            found[(f"example_dags/{path.name}", match["name"])] = textwrap.dedent(match["body"]).strip()
    return found


def _doc_blocks() -> list[tuple[str, str, str, str]]:
    blocks = []
    for path in sorted((REPO_ROOT / "docs").glob("*.md")):
        for match in _DOC_BLOCK.finditer(path.read_text()):
            blocks.append((path.name, match["file"], match["name"], match["body"].strip()))
    return blocks


@pytest.mark.parametrize(("doc", "file", "name", "body"), _doc_blocks(), ids=lambda value: str(value)[:40])
def test_doc_snippet_matches_example(doc: str, file: str, name: str, body: str) -> None:
    snippets = _snippets()
    assert (file, name) in snippets, f"{doc} shows {file} {name}, which has no [START {name}] marker"
    assert body == snippets[(file, name)], f"{doc}: snippet {name} differs from {file}"


def test_every_example_snippet_is_documented() -> None:
    shown = {(file, name) for _, file, name, _ in _doc_blocks()}
    assert set(_snippets()) <= shown, sorted(set(_snippets()) - shown)
