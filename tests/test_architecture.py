"""The package's shape, checked: no import cycles, each layer imports only what it may, modules stay small.

Imports inside functions count: a cycle that only closes at run time still ties two modules together.
``docs/architecture.md`` draws the layers this checks.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "kapso_provider"
# About what one reader takes in at one sitting; generated data files are not modules.
MAX_MODULE_LINES = 700


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str) -> set[str]:
    """The package modules ``name`` imports anywhere in its source (module level or inside functions)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            # A package importing its own submodules (re-exports) is not a cycle of the code.
            members = [m for m in component if not any(other.startswith(m + ".") for other in component)]
            if len(members) > 1:
                components.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return components


def test_no_import_cycles() -> None:
    assert _cycles() == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_readable_in_one_sitting(name: str) -> None:
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name}: {lines} lines"


# Layers that must not reach up: the pure core knows nothing of Airflow, hooks, operators or services.
PURE = ("kapso_provider.transport", "kapso_provider.pacing", "kapso_provider.validation", "kapso_provider.exceptions")
FORBIDDEN_FOR_PURE = (
    "kapso_provider.hooks",
    "kapso_provider.operators",
    "kapso_provider.sensors",
    "kapso_provider.triggers",
    "kapso_provider.notifications",
    "kapso_provider.services",
    "kapso_provider.api",
    "kapso_provider.models",
)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith(PURE)))
def test_the_pure_core_imports_no_upper_layer(name: str) -> None:
    assert sorted(t for t in GRAPH[name] if t.startswith(FORBIDDEN_FOR_PURE)) == []
    source = MODULES[name].read_text()
    imported = re.findall(r"^\s*(?:import|from) (\w+)", source, re.MULTILINE)
    assert sorted({library for library in imported if library in ("airflow", "requests", "httpx", "pydantic")}) == []


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("kapso_provider.api.")))
def test_endpoint_definitions_do_no_io_and_know_no_hook(name: str) -> None:
    assert sorted(t for t in GRAPH[name] if t.startswith(FORBIDDEN_FOR_PURE[:6])) == []


def test_no_merge_conflict_markers_were_committed() -> None:
    import subprocess

    # A merge that stops on a conflict leaves these lines; one committed by mistake breaks a page or a module.
    found = subprocess.run(
        ["git", "grep", "-n", "-E", "^(<<<<<<< |>>>>>>> )"],
        cwd=PACKAGE.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.stdout == ""


def test_test_modules_share_through_helpers_not_each_other() -> None:
    # A test module imported by another runs its module-level setup twice and ties two areas together:
    # what tests share lives in an underscore module or a conftest.py.
    tests_root = Path(__file__).resolve().parent
    offenders = []
    for path in sorted(tests_root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                if name.startswith("tests.") and name.rpartition(".")[2].startswith("test_"):
                    offenders.append(f"{path.relative_to(tests_root)} imports {name}")
    assert offenders == []


# -- every public constructor shows its arguments to type checkers and IDEs ------------------------------

# The areas whose classes DAG authors build; an underscore module or name is private.
PUBLIC_AREAS = ("operators", "sensors", "notifications", "triggers", "hooks")


def _public_classes() -> dict[str, type]:
    """Every class exported (``__all__``) by a public module of the public areas, by its public path."""
    import importlib
    import inspect
    from typing import is_typeddict

    found: dict[str, type] = {}
    for name in sorted(MODULES):
        parts = name.split(".")
        if len(parts) < 3 or parts[1] not in PUBLIC_AREAS or any(part.startswith("_") for part in parts):
            continue
        module = importlib.import_module(name)
        for exported in getattr(module, "__all__", ()):
            value = getattr(module, exported)
            # A TypedDict is the type of a constructor's **kwargs, not a constructor.
            if not inspect.isclass(value) or is_typeddict(value) or value in found.values():
                continue
            if value.__module__.startswith("kapso_provider."):
                found[f"{name}.{exported}"] = value
    return found


PUBLIC_CLASSES = _public_classes()


def _constructor_problem(cls: type) -> str | None:
    """Why ``cls(...)`` hides arguments from a type checker, or ``None``.

    With ``from __future__ import annotations`` every annotation is its source text, so ``**kwargs: Any``
    reads ``"Any"``; the constructor that counts is the first ``__init__`` along the MRO.
    """
    import inspect

    owner = next(klass for klass in cls.__mro__ if "__init__" in vars(klass))
    if owner is object:
        return None  # no constructor arguments at all
    if owner.__module__.split(".")[0] in ("airflow", "builtins"):
        return f"inherits {owner.__module__}.{owner.__qualname__}.__init__, whose **kwargs are untyped"
    init = inspect.unwrap(vars(owner)["__init__"])
    for parameter in inspect.signature(init).parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            annotation = parameter.annotation
            text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", repr(annotation))
            if annotation is parameter.empty or text in ("Any", "typing.Any", "object"):
                return f"{owner.__name__}.__init__ takes **{parameter.name}: {text}; use Unpack[a TypedDict]"
    return None


def test_the_public_classes_are_found() -> None:
    # The walk itself: a change of layout that finds nothing would pass every constructor check below.
    assert {"KapsoSendMessageOperator", "KapsoMessageStatusSensor", "KapsoNotifier", "KapsoHook"} <= {
        path.rpartition(".")[2] for path in PUBLIC_CLASSES
    }
    assert len(PUBLIC_CLASSES) >= 25


@pytest.mark.parametrize("path", sorted(PUBLIC_CLASSES))
def test_every_public_constructor_shows_its_arguments(path: str) -> None:
    assert _constructor_problem(PUBLIC_CLASSES[path]) is None


def test_a_constructor_hiding_its_arguments_is_found() -> None:
    from typing import Any

    from airflow.providers.common.compat.sdk import BaseOperator

    from kapso_provider.operators._base import KapsoBaseOperator

    class Hidden(KapsoBaseOperator):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)

    class Inherited(KapsoBaseOperator):
        pass

    class Airflows(BaseOperator):
        pass

    assert _constructor_problem(Hidden) == "Hidden.__init__ takes **kwargs: Any; use Unpack[a TypedDict]"
    assert _constructor_problem(Inherited) is None  # KapsoBaseOperator's own, typed
    assert (_constructor_problem(Airflows) or "").startswith("inherits airflow.")
