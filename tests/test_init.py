from __future__ import annotations

import importlib
from importlib import metadata

import pytest

import kapso_provider


@pytest.mark.parametrize(("version", "expected"), [("3.1.0rc1", (3, 1, 0)), ("2.11.2", (2, 11, 2)), ("3.3", (3, 3))])
def test_release_tuple(version: str, expected: tuple[int, ...]) -> None:
    assert kapso_provider._release_tuple(version) == expected


def test_refuses_old_airflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metadata, "version", lambda name: "2.10.5")
    with pytest.raises(RuntimeError) as info:
        importlib.reload(kapso_provider)
    assert "needs apache-airflow>=2.11.0; apache-airflow 2.10.5 is installed" in str(info.value)


def test_accepts_installed_airflow() -> None:
    importlib.reload(kapso_provider)
    assert kapso_provider.__version__ == "0.1.0"
