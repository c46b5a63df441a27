"""Every code sample of README.md and docs/ is generated from a file the tests run, never pasted.

The pages carry their code as plain fenced blocks (so GitHub, a clone and PyPI show it), written by cog
from the ``# [START name]`` / ``# [END name]`` snippets of example_dags/ and tests/ (see tests/_docs.py).
Plain parsing, no Sphinx: this checks that

- no page has a Python block outside a generated region (pasted, so untested, code);
- every generated region names an existing file the tests run, and a snippet that exists in it;
- every marked snippet of those files is shown by some page, so none is written for nothing;
- every page equals what its sources generate now (``cog --check``);
- the README, which is also the package's description on PyPI, links only with absolute URLs.
"""

from __future__ import annotations

import configparser
import re
from typing import TYPE_CHECKING

import pytest

from tests._docs import (
    DOCS,
    REPO_ROOT,
    UPDATE_COMMAND,
    CogCall,
    Fence,
    code,
    cog_calls,
    fenced,
    fences,
    pages,
    repo_relative,
    run_cog,
    snippets,
)

if TYPE_CHECKING:
    from pathlib import Path

# Directories whose files the test suite runs: generated code must come from one of them.
RUN_BY_TESTS = ("example_dags", "tests")

_DIRECTIVE = re.compile(r"^\{(?P<name>[\w:-]+)\}\s*(?P<argument>.*)$")
_PYTHON_LANGUAGES = {"python", "python3", "py", "py3", "pycon", "ipython", "ipython3", "pytb"}
_CODE_DIRECTIVES = {"code", "code-block", "sourcecode", "code-cell"}
# Directives that show a file's content only where Sphinx renders the page: on GitHub and PyPI, nothing.
_RENDER_TIME_INCLUDES = {"literalinclude", "include"}


def _all_fences() -> list[Fence]:
    return [fence for page in pages() for fence in fences(page)]


def _all_calls() -> list[CogCall]:
    return [call for page in pages() for call in cog_calls(page)]


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


def _snippet_files() -> list[Path]:
    """The example DAGs, and every file a page shows code from."""
    files = {path.resolve() for path in (REPO_ROOT / "example_dags").glob("*.py")}
    files |= {(REPO_ROOT / call.path).resolve() for call in _all_calls() if (REPO_ROOT / call.path).is_file()}
    return sorted(files)


def test_the_parser_sees_the_pages() -> None:
    # Guards the checks below against passing on nothing (a moved docs folder, a changed marker syntax).
    assert (DOCS / "index.md") in pages()
    assert (REPO_ROOT / "README.md") in pages()
    assert len(_all_calls()) >= 60
    assert sum(_is_python(fence) for fence in _all_fences()) == len(_all_calls())
    page = DOCS / "index.md"
    assert all(_is_python(Fence(page, 1, info)) for info in ("python", "{code-block} python", "py", "pycon"))
    assert not any(_is_python(Fence(page, 1, info)) for info in ("bash", "json", "{literalinclude} ../a.py", ""))


def test_no_pasted_python() -> None:
    calls = _all_calls()
    pasted = [
        f"{fence.where} ({fence.info})"
        for fence in _all_fences()
        if _is_python(fence) and not any(call.holds(fence) for call in calls)
    ]
    assert not pasted, (
        f"pages paste Python: {pasted}; move the code into example_dags/ or a test module between "
        '# [START name] / # [END name] markers and show it with <!-- [[[cog include("path", "name") ]]] --> '
        f"... <!-- [[[end]]] -->, then run `{UPDATE_COMMAND}`"
    )


def test_no_render_time_includes() -> None:
    includes = [
        f"{fence.where} ({fence.info})"
        for fence in _all_fences()
        if (directive := _DIRECTIVE.match(fence.info.strip())) and directive["name"] in _RENDER_TIME_INCLUDES
    ]
    assert not includes, f"these show nothing on GitHub or PyPI: {includes}; generate the code with cog instead"


@pytest.mark.parametrize("call", _all_calls(), ids=lambda call: call.where)
def test_generated_code_comes_from_a_snippet_that_exists(call: CogCall) -> None:
    source = REPO_ROOT / call.path
    assert source.is_file(), f"{call.where}: {call.path} does not exist"
    assert repo_relative(source).split("/")[0] in RUN_BY_TESTS, (
        f"{call.where}: {call.path} is not in {', '.join(RUN_BY_TESTS)}, whose files the tests run"
    )
    if call.name is not None:
        assert call.name in snippets(source), (
            f"{call.where}: {call.path} has no # [START {call.name}] ... # [END {call.name}]"
        )


@pytest.mark.parametrize("path", _snippet_files(), ids=repo_relative)
def test_every_snippet_is_shown(path: Path) -> None:
    shown: set[str] = set()
    for call in _all_calls():
        if (REPO_ROOT / call.path).resolve() == path:
            shown |= set(snippets(path)) if call.name is None else {call.name}
    missing = sorted(set(snippets(path)) - shown)
    assert not missing, f"{repo_relative(path)}: snippets no page shows: {missing}"


def test_pages_match_their_sources(capsys: pytest.CaptureFixture[str]) -> None:
    status = run_cog(check=True)
    output = capsys.readouterr()
    assert status == 0, f"pages differ from their sources:\n{output.out}{output.err}"


def test_the_check_fails_when_a_page_drifts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    page = tmp_path / "quickstart.md"
    original = (DOCS / "quickstart.md").read_text()
    generated_line = "    send_text >> react\n"
    assert generated_line in original
    page.write_text(original)
    assert run_cog(check=True, files=[page]) == 0

    page.write_text(original.replace(generated_line, "    react >> send_text\n"))
    assert run_cog(check=True, files=[page]) != 0
    output = capsys.readouterr()
    assert "-    react >> send_text" in output.out  # the diff shows the drift
    assert UPDATE_COMMAND in output.err

    page.write_text(original.replace("# Quick start", "# Quick start, reworded"))  # prose is the page's own
    assert run_cog(check=True, files=[page]) == 0


def test_code_cuts_a_snippet_out_dedented_without_markers(tmp_path: Path) -> None:
    source = tmp_path / "dag.py"
    source.write_text(
        "import x\n"
        "# [START outer]\n"
        "with x:\n"
        "    # [END outer]\n"
        "    # [START inner]\n"
        "    task = x.Task(\n"
        "        id='a',\n"
        "    )\n"
        "    # [END inner]\n"
        "    task.run()\n"
    )
    assert code(str(source), "outer") == "with x:\n"
    assert code(str(source), "inner") == "task = x.Task(\n    id='a',\n)\n"
    assert code(str(source)) == "import x\nwith x:\n    task = x.Task(\n        id='a',\n    )\n    task.run()\n"
    with pytest.raises(ValueError, match=r"no # \[START missing\].*\['inner', 'outer'\]"):
        code(str(source), "missing")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("# [START a]\n# [START b]\n# [END b]\n# [END a]\n", r":2: \[START b\] inside \[START a\]"),
        ("# [START a]\n# [END a]\n# [START a]\n# [END a]\n", r":3: snippet a is marked twice"),
        ("# [START a]\n# [END b]\n", r":2: \[END b\] does not close \[START a\]"),
        ("# [START a]\nx = 1\n", r"\[START a\] has no \[END a\]"),
    ],
)
def test_malformed_markers_are_refused(tmp_path: Path, text: str, error: str) -> None:
    source = tmp_path / "dag.py"
    source.write_text(text)
    with pytest.raises(ValueError, match=error):
        snippets(source)


def test_fenced_outgrows_backticks_inside(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text('doc = """\n```bash\nmake demo\n```\n"""\n')
    assert fenced(str(source)).startswith("````python\n")
    assert fenced(str(source)).endswith('"""\n````\n')


@pytest.mark.parametrize(
    "line",
    [
        '<!-- [[[cog cog.outl("x") ]]] -->',
        "<!-- [[[cog include(path) ]]] -->",
        '<!-- [[[cog include("a.py", "b", "c") ]]] -->',
        '<!-- [[[cog import os; include("a.py") ]]] -->',
    ],
)
def test_cog_calls_must_be_plain_includes(tmp_path: Path, line: str) -> None:
    page = tmp_path / "page.md"
    page.write_text(f"{line}\n<!-- [[[end]]] -->\n")
    with pytest.raises(ValueError, match="must read include"):
        cog_calls(page)


def _readme_links() -> list[str]:
    text = (REPO_ROOT / "README.md").read_text()
    return re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r"^\[[^\]]+\]:\s*(\S+)", text, re.MULTILINE)


def test_readme_links_work_on_pypi() -> None:
    # The README is the package's long description: PyPI resolves no relative link.
    links = _readme_links()
    assert len(links) >= 10
    relative = [link for link in links if not re.match(r"https?://", link)]
    assert not relative, f"README.md links relatively (broken on PyPI): {relative}"

    metadata = configparser.ConfigParser()
    metadata.read(REPO_ROOT / "setup.cfg")
    repository = metadata["metadata"]["url"].rstrip("/")
    broken = []
    for link in links:
        match = re.match(rf"{re.escape(repository)}/(?:blob|tree)/main/([^#?]+)", link)
        if match and not (REPO_ROOT / match[1]).exists():
            broken.append(link)
    assert not broken, f"README.md links to files this repository does not have: {broken}"


def test_docs_update_regenerates_a_page(tmp_path: Path) -> None:
    page = tmp_path / "quickstart.md"
    original = (DOCS / "quickstart.md").read_text()
    page.write_text(original.replace("    send_text >> react\n", ""))
    assert run_cog(check=False, files=[page]) == 0
    assert page.read_text() == original
