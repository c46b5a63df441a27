"""The package as a user gets it: built, checked, installed into a fresh environment, and used as the docs say.

The tests marked ``packaging`` (part of ``make test``; ``-m "not packaging"`` leaves them out) build the
sdist and the wheel from the repository's files with ``python -m build`` (setuptools pinned by
constraints/bootstrap.txt), run ``twine check --strict`` on both, install the wheel with uv into a fresh
virtual environment under the pinned constraints of the running Airflow version, and then run every
``bash`` block of README.md, and of docs/installation.md followed by docs/quickstart.md, in order, each
reading in its own fresh Airflow home, against the simulator on 127.0.0.1.

Blocks run as written, except where an HTML comment ``<!-- wheel-test: KIND -->`` just above a block
says otherwise (the kinds are explained in :data:`NOTE_KINDS` and in docs/contributing.md).
"""

from __future__ import annotations

import contextlib
import email
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests._docs import REPO_ROOT, Fence, fences, repo_relative

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kapso_provider.testing import KapsoSimulator

AIRFLOW_VERSION = version("apache-airflow")
CONSTRAINTS = REPO_ROOT / "constraints" / f"airflow-{AIRFLOW_VERSION}.txt"
BUILD_CONSTRAINTS = REPO_ROOT / "constraints" / "bootstrap.txt"
UV = Path(sys.executable).with_name("uv")  # installed into every environment from bootstrap.txt

# What one reader does from the top, each in a fresh Airflow home: the README alone (the PyPI page), or
# the installation page and then the quick start.
SCENARIOS = {
    "readme": ("README.md",),
    "installation-then-quickstart": ("docs/installation.md", "docs/quickstart.md"),
}
INSTALL_COMMAND = "pip install airflow-provider-kapso"
DOCS_PORT = "8765"  # the simulator's port in the docs; the test takes a free one instead
NOTE_KINDS = {
    "pip-install": f"runs the block with `{INSTALL_COMMAND}` installing the built wheel, pinned, instead of PyPI's",
    "dag-file": "saves the Python block as the named file in the DAGs folder, as the page asks the reader to",
    "simulator": f"runs the block with a free port instead of {DOCS_PORT}",
    "real-kapso": "runs the block against a simulator of its own: KAPSO_API_KEY is its key, and "
    "`airflow connections add` gets --conn-host with its URL",
    "clone": "skips the block: make commands for a clone of the repository",
}
BLOCK_TIMEOUT = 300
# The user's example DAG tests of docs/testing.md, with the pytest they need.
USER_PROJECT = REPO_ROOT / "tests" / "user_project"


@dataclass(frozen=True)
class Built:
    source: Path  # the repository's files the artifacts were built from
    sdist: Path
    wheel: Path


@dataclass
class Reading:
    """One scenario's run: what it ran and saw."""

    blocks_run: list[str] = field(default_factory=list)
    output: str = ""


def _source_files() -> list[Path]:
    """The repository's files as a fresh clone has them (tracked or new, never ignored)."""
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [Path(name) for name in listed.split("\0") if name and (REPO_ROOT / name).is_file()]


def _run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, (
        f"{shlex.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
    )
    return result  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    # A copy, so that the build's egg-info and build/ never touch the working tree another run may use.
    source = tmp_path_factory.mktemp("source")
    for name in _source_files():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    env = {
        **os.environ,
        "UV_CONSTRAINT": str(BUILD_CONSTRAINTS),
        "PATH": f"{UV.parent}{os.pathsep}{os.environ['PATH']}",
    }
    _run([sys.executable, "-m", "build", "--installer", "uv", "--outdir", str(dist), str(source)], env=env)
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return Built(source, sdist, wheel)


def _install_command(venv: Path, *requirements: str) -> list[str]:
    """uv's install into ``venv`` under the pinned constraints of the running Airflow version."""
    python = str(venv / "bin" / "python")
    return [str(UV), "pip", "install", "--quiet", "--python", python, "-c", str(CONSTRAINTS), *requirements]


def _fresh_venv(path: Path) -> Path:
    """An empty virtual environment: nothing of the repository, not even the provider."""
    assert CONSTRAINTS.is_file(), f"no pins for Airflow {AIRFLOW_VERSION}: {repo_relative(CONSTRAINTS)}"
    _run([str(UV), "venv", "--quiet", "--python", sys.executable, str(path)])
    return path


def _metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(archive.read(name))


def _package_files(source: Path) -> set[str]:
    return {path.relative_to(source).as_posix() for path in (source / "kapso_provider").rglob("*") if path.is_file()}


# The artifacts.


@pytest.mark.packaging
def test_twine_check_strict_passes(built: Built) -> None:
    result = _run([sys.executable, "-m", "twine", "check", "--strict", str(built.sdist), str(built.wheel)])
    assert result.stdout.count("PASSED") == 2, result.stdout


@pytest.mark.packaging
def test_the_wheel_holds_the_package_and_nothing_else(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as archive:
        names = set(archive.namelist())
        generator = archive.read(next(name for name in names if name.endswith(".dist-info/WHEEL"))).decode()
    package = {name for name in names if ".dist-info/" not in name}
    assert package == _package_files(built.source)
    assert "kapso_provider/py.typed" in package
    # Built by the pinned setuptools, not whichever the build's isolated environment would pick.
    pinned = re.search(r"^setuptools==(\S+)$", BUILD_CONSTRAINTS.read_text(), re.MULTILINE)
    assert pinned is not None
    assert f"Generator: setuptools ({pinned[1]})" in generator


@pytest.mark.packaging
def test_the_sdist_builds_the_wheel_and_holds_no_tests(built: Built) -> None:
    with tarfile.open(built.sdist) as archive:
        names = {
            Path(member.name).relative_to(Path(member.name).parts[0]).as_posix()
            for member in archive.getmembers()
            if member.isfile()
        }
    package = {name for name in names if name.startswith("kapso_provider/")}
    assert package == _package_files(built.source)
    rest = {name for name in names - package if not name.startswith("airflow_provider_kapso.egg-info/")}
    assert rest == {"PKG-INFO", "README.md", "LICENSE", "MANIFEST.in", "pyproject.toml", "setup.cfg"}


@pytest.mark.packaging
def test_published_extras_are_documented_as_development_only(built: Built) -> None:
    metadata = _metadata(built.wheel)
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert "test" in extras
    description = metadata.get_payload()
    assert isinstance(description, str)
    paragraphs = [
        paragraph for paragraph in description.split("\n\n") if "development" in paragraph and "extras" in paragraph
    ]
    assert paragraphs, "the long description says nowhere which extras are for development"
    assert all(f"`{extra}`" in paragraphs[0] for extra in extras), paragraphs[0]


# The commands of the docs.


def _note(fence: Fence) -> tuple[str, str]:
    kind, _, argument = (fence.note or "").partition(" ")
    return kind, argument.strip()


def _scenario_fences(pages: tuple[str, ...]) -> list[Fence]:
    return [fence for page in pages for fence in fences(REPO_ROOT / page) if fence.language == "bash" or fence.note]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.mark.parametrize("pages", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_every_note_is_understood(pages: tuple[str, ...]) -> None:
    # The notes steer the run below: a misspelled one must not quietly run (or skip) a block.
    fenced = _scenario_fences(pages)
    assert sum(fence.language == "bash" for fence in fenced) >= 3
    for fence in fenced:
        kind, argument = _note(fence)
        assert not kind or kind in NOTE_KINDS, f"{fence.where}: unknown wheel-test note {fence.note!r}"
        assert (kind == "dag-file") == (fence.language == "python"), (
            f"{fence.where}: {kind!r} on a {fence.language} block"
        )
        assert (kind == "dag-file") == bool(argument), f"{fence.where}: only dag-file takes an argument"
        script = "\n".join(fence.body)
        if kind == "pip-install":
            assert INSTALL_COMMAND in fence.body, f"{fence.where}: no line reads {INSTALL_COMMAND!r}"
        if kind == "simulator":
            assert DOCS_PORT in script, f"{fence.where}: the simulator block does not use port {DOCS_PORT}"
        if kind == "real-kapso":
            assert re.search(r"^airflow connections add ", script, re.MULTILINE), f"{fence.where}: no connection"
        if kind == "clone":
            assert all(line.startswith("make ") for line in fence.body if line.strip()), f"{fence.where}: not make"
        assert "AIRFLOW_CONN_" not in script, f"{fence.where}: store connections with `airflow connections add`"


def _script(fence: Fence, *, venv: Path, wheel: Path, simulator: KapsoSimulator) -> str:
    kind, _ = _note(fence)
    script = "\n".join(fence.body)
    if kind == "pip-install":
        script = script.replace(INSTALL_COMMAND, shlex.join(_install_command(venv, str(wheel))))
    elif kind == "simulator":
        script = script.replace(DOCS_PORT, str(_free_port()))
    elif kind == "real-kapso":
        host = f" --conn-host {shlex.quote(simulator.base_url)}"
        script = re.sub(r"^(airflow connections add .*)$", rf"\1{host}", script, flags=re.MULTILINE)
    return script


def _machine_env() -> dict[str, str]:
    """This machine's environment as a reader's shell has it (network and certificate settings, locale),
    without this test session's Airflow, Python, virtualenv and uv settings."""
    session_only = re.compile(r"^(AIRFLOW|KAPSO|PYTHON|VIRTUAL_ENV|UV_)")
    return {name: value for name, value in os.environ.items() if not session_only.match(name)}


def _run_block(script: str, *, where: str, env: dict[str, str], cwd: Path, log: Path) -> str:
    """Run one block in bash, as a reader pastes it; stop whatever it left running; its output."""
    with log.open("w") as output:
        # Output to a file, not a pipe: a background process the block started could hold a pipe open.
        process = subprocess.Popen(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            returncode = process.wait(timeout=BLOCK_TIMEOUT)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)  # its own group: the block and all it started
            process.wait()
    text = log.read_text()
    assert returncode == 0, f"{where} failed ({returncode}):\n{script}\n--- output (last lines) ---\n" + "\n".join(
        text.splitlines()[-60:]
    )
    return text


@pytest.fixture
def real_kapso() -> Iterator[KapsoSimulator]:
    """What stands in for real Kapso in the blocks that talk to it."""
    from kapso_provider.testing import KapsoSimulator

    with KapsoSimulator(api_key="kapso-" + secrets.token_urlsafe(24)) as simulator:
        yield simulator


@pytest.mark.packaging
@pytest.mark.parametrize("pages", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_the_commands_of_the_docs_work_after_pip_install(
    pages: tuple[str, ...], built: Built, real_kapso: KapsoSimulator, tmp_path: Path
) -> None:
    venv = _fresh_venv(tmp_path / "venv")  # empty: the pages' own install command puts the wheel there
    home = tmp_path / "home"
    airflow_home = home / "airflow"
    home.mkdir()
    env = {
        **_machine_env(),
        "PATH": os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
        "VIRTUAL_ENV": str(venv),
        "HOME": str(home),
        "AIRFLOW_HOME": str(airflow_home),
        # Airflow's own example DAGs only cost parse time here; a reader's Airflow may load them.
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "KAPSO_API_KEY": real_kapso.api_key,
        # uv's cache of this machine: the wheel's dependencies, already downloaded for the test environment.
        "UV_CACHE_DIR": _run([str(UV), "cache", "dir"]).stdout.strip(),
    }
    reading = Reading()
    for fence in _scenario_fences(pages):
        kind, argument = _note(fence)
        if kind == "clone":
            continue
        if kind == "dag-file":
            (airflow_home / "dags").mkdir(parents=True, exist_ok=True)
            (airflow_home / "dags" / argument).write_text("\n".join(fence.body) + "\n")
            continue
        script = _script(fence, venv=venv, wheel=built.wheel, simulator=real_kapso)
        log = tmp_path / f"block-{len(reading.blocks_run)}.log"
        reading.output += _run_block(script, where=fence.where, env=env, cwd=home, log=log)
        reading.blocks_run.append(fence.where)

    assert {where.split(":")[0] for where in reading.blocks_run} == set(pages), reading.blocks_run
    if any(_note(fence)[0] == "real-kapso" for fence in _scenario_fences(pages)):
        sent = real_kapso.messages()
        assert sent, "the real-Kapso commands sent nothing"
        assert {message["phone_number"] for message in sent} == {"+15551234567"}
        assert all(request.headers.get("X-API-Key") == real_kapso.api_key for request in real_kapso.requests)
    assert real_kapso.api_key not in reading.output, "the API key reached a command's output"


@pytest.mark.packaging
def test_the_testing_guide_example_passes_with_the_wheel(built: Built, tmp_path: Path) -> None:
    # docs/testing.md's conftest.py, DAG and test, run by pytest in an environment of the wheel and pytest
    # only: the kapso_server fixture comes from the installed package's pytest11 entry point.
    wheel_venv = _fresh_venv(tmp_path / "venv")
    _run(_install_command(wheel_venv, str(built.wheel), "pytest"))
    project = tmp_path / "project"
    shutil.copytree(USER_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**_machine_env(), "PATH": f"{wheel_venv / 'bin'}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(wheel_venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^1 passed", result.stdout.splitlines()[-1]), result.stdout
