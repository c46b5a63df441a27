from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import distribution, entry_points
from typing import Any

import pytest

import kapso_provider
from kapso_provider.get_provider_info import get_provider_info
from kapso_provider.hooks.kapso import KapsoHook


def _airflow(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_provider_info_matches_distribution() -> None:
    info = get_provider_info()
    dist = distribution("airflow-provider-kapso")
    # Airflow refuses to start when these two differ (see shared/airflow-notes.md).
    assert info["package-name"] == dist.metadata["Name"]
    assert info["versions"] == [dist.version] == [kapso_provider.__version__]


def test_entry_point_points_at_get_provider_info() -> None:
    (entry_point,) = [
        ep
        for ep in entry_points(group="apache_airflow_provider")
        if ep.dist and ep.dist.name == "airflow-provider-kapso"
    ]
    assert entry_point.load() is get_provider_info


def test_provider_info_is_valid_for_airflow() -> None:
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads(files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_listed_modules_import() -> None:
    import importlib

    info = get_provider_info()
    for section in ("hooks", "operators"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    (connection_type,) = info["connection-types"]
    module, _, name = connection_type["hook-class-name"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is KapsoHook
    assert connection_type["connection-type"] == KapsoHook.conn_type == "kapso"
    assert connection_type["hook-name"] == KapsoHook.hook_name == "Kapso"


def test_form_for_old_airflow_says_what_provider_info_says() -> None:
    (connection_type,) = get_provider_info()["connection-types"]
    declared: dict[str, Any] = connection_type["ui-field-behaviour"]
    behaviour = KapsoHook.get_ui_field_behaviour()
    assert behaviour == {
        "hidden_fields": declared["hidden-fields"],
        "relabeling": declared["relabeling"],
        "placeholders": declared["placeholders"],
    }
    # Every placeholder names a real field: a standard one or a declared extra.
    assert set(behaviour["placeholders"]) <= {"host", "password", *connection_type["conn-fields"]}


def test_widgets_match_conn_fields() -> None:
    # Airflow 2.11 builds the form from wtforms widgets; 3.x ships without wtforms and reads conn-fields.
    pytest.importorskip("wtforms", reason="this Airflow has no wtforms; it reads conn-fields instead")
    (connection_type,) = get_provider_info()["connection-types"]
    # Outside a Flask app, lazy_gettext falls back to untranslated text: the label as declared.
    widgets = KapsoHook.get_connection_form_widgets()
    assert set(widgets) == set(connection_type["conn-fields"])
    for name, widget in widgets.items():
        spec = connection_type["conn-fields"][name]
        assert str(widget.args[0]) == spec["label"]
        assert widget.kwargs["description"] == spec["description"]


def test_airflow_cli_lists_provider_and_connection_type() -> None:
    providers = _airflow("providers", "list", "--output", "plain")
    assert any(
        line.split()[0] == "airflow-provider-kapso" and line.split()[-1] == kapso_provider.__version__
        for line in providers.splitlines()
        if line.strip()
    ), providers
    hooks = _airflow("providers", "hooks", "--output", "plain")
    assert any(line.split()[:2] == ["kapso", "kapso_provider.hooks.kapso.KapsoHook"] for line in hooks.splitlines()), (
        hooks
    )
