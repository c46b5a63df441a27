"""Sphinx configuration of the docs site: the Markdown pages of docs/ (MyST) and the API reference.

Build: ``sphinx-build -W --keep-going -n -b html docs build/docs`` with the project's .venv python.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

# autodoc imports the provider, which imports Airflow: give Airflow a throwaway home before anything
# imports it, so a build never writes to ~/airflow.
_AIRFLOW_HOME = tempfile.mkdtemp(prefix="kapso-docs-airflow-home-")
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = _AIRFLOW_HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import kapso_provider  # noqa: E402  (after AIRFLOW_HOME is set)

project = "airflow-provider-kapso"
author = "The airflow-provider-kapso authors"
copyright = "The airflow-provider-kapso authors, Apache License 2.0"
release = kapso_provider.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# MyST: GitHub-style anchors for the pages' "#section" links, and plain tables/links as GitHub shows them.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# API reference: members in source order, with their base classes. Types from other packages (Airflow,
# requests, httpx, pydantic, the standard library) are not resolvable offline; only references into
# this provider have to resolve.
autodoc_default_options = {
    "members": True,
    "member-order": "bysource",
    "show-inheritance": True,
}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_class_signature = "separated"
autodoc_inherit_docstrings = False
nitpick_ignore_regex = [
    # Other packages (no intersphinx: the build runs offline).
    (r"py:.*", r"(airflow|collections|datetime|enum|httpx|requests|random|pytest|typing|pydantic|re)(\..+)?"),
    # Airflow names that docstrings and annotations use unqualified.
    (r"py:.*", r"Context|TriggerEvent|PokeReturnValue|AirflowException"),
    # Private bases and helpers (a leading underscore): deliberately left out of the reference; what they
    # define is documented on the public classes that inherit it.
    (r"py:class", r"(kapso_provider\.(\w+\.)*)?_\w+(\.\w+)*"),
    # The core's internal layers (transport and API generations, behind both hooks): docstrings name them
    # for readers of the code; the reference documents the hooks that use them.
    (r"py:mod", r"kapso_provider\.(transport|api)(\..+)?"),
    # The modules each public path gathers (sensors, triggers, operators, hooks' shared state) and the pure
    # helpers in utils/: docstrings name them for readers of the code; the reference documents the classes
    # under their public paths.
    (r"py:mod", r"kapso_provider\.(sensors|triggers|operators|services|utils)\.\w+|kapso_provider\.hooks\._\w+"),
    (
        r"py:(class|meth|data|obj)",
        r"kapso_provider\.(utils|triggers\.base)\..+|kapso_provider\.\w+\.\w+\.State|ReplySpec\..+|serialize",
    ),
]

html_theme = "furo"
html_title = f"airflow-provider-kapso {release}"
html_static_path: list[str] = []
pygments_style = "default"
