"""Every code sample of docs/ comes from a file the tests run, included, never pasted.

The docs pages (MyST Markdown, built by Sphinx) show Python only through ``literalinclude`` of a file under
example_dags/ (the example DAGs, which the test suite runs) or tests/ (test modules), cut at its
``# [START name]`` / ``# [END name]`` markers. Plain parsing, no Sphinx: this checks that

- no page has a fenced Python block (pasted code);
- every ``literalinclude`` names an existing file the tests run, and markers that exist in it;
- every marked snippet of those files is included by some page, so none is written for nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs"
# Directories whose files the test suite runs: included code must come from one of them.
RUN_BY_TESTS = ("example_dags", "tests")

_FENCE_OPEN = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>.*?)\s*$")
_DIRECTIVE = re.compile(r"^\{(?P<name>[\w:-]+)\}\s*(?P<argument>.*)$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):(?:\s+(?P<value>.*?))?\s*$")
_MARKER = re.compile(r"^\s*# \[(?P<kind>START|END) (?P<name>\w+)\]\s*$", re.MULTILINE)
_PYTHON_LANGUAGES = {"python", "python3", "py", "py3", "pycon", "ipython", "ipython3", "pytb"}
_CODE_DIRECTIVES = {"code", "code-block", "sourcecode", "code-cell"}


@dataclass
class Fence:
    page: Path
    line: int
    info: str
    body: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO_ROOT).as_posix()}:{self.line}"


def _fences(path: Path) -> list[Fence]:
    """The fenced blocks of a Markdown page (CommonMark fences; a longer fence may hold shorter ones)."""
    fences: list[Fence] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE_OPEN.match(lines[index])
        index += 1
        if opening is None or (opening["fence"][0] == "`" and "`" in opening["info"]):
            continue
        fence = Fence(path, index, opening["info"])
        char, length = opening["fence"][0], len(opening["fence"])
        closing = re.compile(rf"^\s*{re.escape(char)}{{{length},}}\s*$")
        while index < len(lines) and not closing.match(lines[index]):
            fence.body.append(lines[index])
            index += 1
        index += 1  # the closing fence (or the end of the page, as CommonMark allows)
        fences.append(fence)
    return fences


def _pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def _all_fences() -> list[Fence]:
    return [fence for page in _pages() for fence in _fences(page)]


def _is_python(fence: Fence) -> bool:
    info = fence.info.strip()
    directive = _DIRECTIVE.match(info)
    if directive is None:
        language = info.split()[0] if info else ""
        return language.lower() in _PYTHON_LANGUAGES
    if directive["name"] in _CODE_DIRECTIVES:
        return directive["argument"].split()[0].lower() in _PYTHON_LANGUAGES if directive["argument"] else False
    if directive["name"] == "eval-rst":
        return any(
            re.match(rf"\s*\.\. (?:{'|'.join(_CODE_DIRECTIVES)}):: *(?:{'|'.join(_PYTHON_LANGUAGES)})\b", line)
            or re.match(r"\s*>>> ", line)
            for line in fence.body
        )
    return False


@dataclass(frozen=True)
class Include:
    where: str
    page: Path
    path: str  # as written, relative to the page
    options: dict[str, str]

    @property
    def file(self) -> Path:
        return (self.page.parent / self.path).resolve()

    @property
    def repo_path(self) -> str:
        return self.file.relative_to(REPO_ROOT).as_posix() if self.file.is_relative_to(REPO_ROOT) else str(self.file)


def _option_value(raw: str | None) -> str:
    value = (raw or "").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return value


def _includes() -> list[Include]:
    includes = []
    for fence in _all_fences():
        directive = _DIRECTIVE.match(fence.info.strip())
        if directive is None or directive["name"] != "literalinclude":
            continue
        options = {}
        for line in fence.body:
            option = _OPTION.match(line.strip())
            assert option is not None, f"{fence.where}: cannot read the literalinclude option line {line!r}"
            options[option["key"]] = _option_value(option["value"])
        includes.append(Include(fence.where, fence.page, directive["argument"].strip(), options))
    return includes


def _markers(path: Path) -> list[tuple[str, str]]:
    return [(match["kind"], match["name"]) for match in _MARKER.finditer(path.read_text())]


def _snippets(path: Path) -> set[str]:
    """The names of the well-formed START/END pairs of a file; a malformed pair fails the caller."""
    names: set[str] = set()
    open_name: str | None = None
    for kind, name in _markers(path):
        where = path.relative_to(REPO_ROOT)
        if kind == "START":
            assert open_name is None, f"{where}: [START {name}] inside [START {open_name}]"
            assert name not in names, f"{where}: snippet {name} is marked twice"
            open_name = name
        else:
            assert open_name == name, f"{where}: [END {name}] does not close [START {open_name}]"
            names.add(name)
            open_name = None
    assert open_name is None, f"{path.relative_to(REPO_ROOT)}: [START {open_name}] has no [END {open_name}]"
    return names


def _snippet_files() -> list[Path]:
    """The example DAGs, and every file a page includes from."""
    files = {path.resolve() for path in (REPO_ROOT / "example_dags").glob("*.py")}
    files |= {include.file for include in _includes() if include.file.is_file()}
    return sorted(files)


def test_the_parser_sees_the_pages() -> None:
    # Guards the checks below against passing on nothing (a moved docs folder, a changed directive syntax).
    assert (DOCS / "index.md").is_file()
    assert len(_includes()) >= 40
    page = DOCS / "index.md"
    assert all(_is_python(Fence(page, 1, info)) for info in ("python", "{code-block} python", "py", "pycon"))
    assert not any(_is_python(Fence(page, 1, info)) for info in ("bash", "json", "{literalinclude} ../a.py", ""))


def test_no_pasted_python() -> None:
    pasted = [f"{fence.where} ({fence.info})" for fence in _all_fences() if _is_python(fence)]
    assert not pasted, (
        f"docs pages paste Python: {pasted}; move the code into example_dags/ or a test module between "
        "# [START name] / # [END name] markers and include it with literalinclude"
    )


@pytest.mark.parametrize("include", _includes(), ids=lambda include: include.where)
def test_include_names_a_file_and_markers_that_exist(include: Include) -> None:
    assert include.file.is_file(), f"{include.where}: {include.path} does not exist"
    assert include.repo_path.split("/")[0] in RUN_BY_TESTS, (
        f"{include.where}: {include.path} is not in {', '.join(RUN_BY_TESTS)}, whose files the tests run"
    )
    start, end = include.options.get("start-after"), include.options.get("end-before")
    assert (start is None) == (end is None), f"{include.where}: give both start-after and end-before, or neither"
    if start is None or end is None:
        return  # the whole file
    start_match = re.fullmatch(r"\[START (\w+)\]", start)
    end_match = re.fullmatch(r"\[END (\w+)\]", end)
    assert start_match, f"{include.where}: start-after must read [START name], not {start!r}"
    assert end_match, f"{include.where}: end-before must read [END name], not {end!r}"
    assert start_match[1] == end_match[1], f"{include.where}: [START {start_match[1]}] with [END {end_match[1]}]"
    assert start_match[1] in _snippets(include.file), (
        f"{include.where}: {include.path} has no # [START {start_match[1]}] ... # [END {start_match[1]}]"
    )


@pytest.mark.parametrize("path", _snippet_files(), ids=lambda path: path.relative_to(REPO_ROOT).as_posix())
def test_every_snippet_is_included(path: Path) -> None:
    included: set[str] = set()
    for include in _includes():
        if include.file == path:
            start = include.options.get("start-after")
            if start is None:  # the whole file
                included |= _snippets(path)
            else:
                included.add(start.removeprefix("[START ").removesuffix("]"))
    missing = sorted(_snippets(path) - included)
    assert not missing, f"{path.relative_to(REPO_ROOT)}: snippets no docs page includes: {missing}"
