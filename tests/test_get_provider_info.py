from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import distribution, entry_points
from typing import Any

import pytest

import kapso_provider
from kapso_provider.get_provider_info import CURRENT_BASE_URL, DEFAULT_BASE_URL, get_provider_info
from kapso_provider.hooks.kapso import KapsoHook
from kapso_provider.transport.settings import parse_connection


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
    for section in ("hooks", "operators", "sensors", "triggers"):
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


def _airflow_release() -> tuple[int, ...]:
    from importlib.metadata import version

    return kapso_provider._release_tuple(version("apache-airflow"))


def _has_wtforms() -> bool:
    from importlib.util import find_spec

    return find_spec("wtforms") is not None


def test_airflow_reads_the_form() -> None:
    """The form as this Airflow's providers manager builds it: from conn-fields (>= 3.2) or the hook (2.x)."""
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    (connection_type,) = get_provider_info()["connection-types"]
    widgets = {
        info.field_name: info
        for info in manager.connection_form_widgets.values()
        if info.package_name == "airflow-provider-kapso"
    }
    behaviour = manager.field_behaviours.get("kapso")
    if _airflow_release() < (3, 2) and not _has_wtforms():
        # Airflow 3.0 and 3.1 draw custom connection fields only when the FAB provider brings wtforms; they
        # do not read conn-fields. Nothing of ours can change that: the form stays Airflow's default.
        assert (widgets, behaviour) == ({}, None)
        return

    assert set(widgets) == set(connection_type["conn-fields"])
    for name, info in widgets.items():
        spec = connection_type["conn-fields"][name]
        # 2.x keeps the wtforms field (label first); 3.2+ keeps the JSON schema with the label as title.
        label = info.field["schema"]["title"] if isinstance(info.field, dict) else str(info.field.args[0])
        assert label == spec["label"]
    declared = connection_type["ui-field-behaviour"]
    assert behaviour is not None
    assert behaviour["hidden_fields"] == declared["hidden-fields"]
    assert behaviour["relabeling"] == declared["relabeling"]
    # Airflow stores placeholders of extra fields under their prefixed names.
    placeholders = {key.removeprefix("extra__kapso__"): value for key, value in behaviour["placeholders"].items()}
    assert placeholders == declared["placeholders"]


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


def test_airflow_cli_lists_notifier_and_trigger() -> None:
    notifications = _airflow("providers", "notifications", "--output", "plain")
    assert "kapso_provider.notifications.kapso.KapsoNotifier" in notifications.split(), notifications
    triggers = _airflow("providers", "triggers", "--output", "plain")
    assert "kapso_provider.triggers.kapso" in triggers.split(), triggers


@pytest.mark.parametrize("host", [DEFAULT_BASE_URL, CURRENT_BASE_URL, "http://127.0.0.1:8765/api/v1"])
def test_a_form_saved_with_its_defaults_works_for_either_host(host: str) -> None:
    # The form saves every field's default into extra; a default that picked a generation would contradict
    # the host's own and make a connection saved from the form fail its test.
    (connection_type,) = get_provider_info()["connection-types"]
    defaults = {
        name: spec["schema"]["default"]
        for name, spec in connection_type["conn-fields"].items()
        if "default" in spec["schema"]
    }
    settings = parse_connection("form", host=host, password="k", extra=defaults)
    assert settings.generation == ("current" if host == CURRENT_BASE_URL else "v1")
