"""``make demo``, the README's first command from a clone: scripts/demo.py end to end in its own Airflow home."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests._docs import REPO_ROOT

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.packaging
# ``make demo`` speaks API v1; ``make demo API=current`` the simulator's copy of Kapso's current API.
@pytest.mark.parametrize("api", ["v1", "current"])
def test_make_demo_runs_and_says_where_the_messages_went(tmp_path: Path, api: str) -> None:
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "demo.py"), "--home", str(tmp_path / "home"), "--api", api],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "the XCom record is one of them: True" in result.stdout
    assert "Nothing went to WhatsApp" in result.stdout
    assert "Kapso simulator on 127.0.0.1" in result.stdout
    assert f"speaking API {api}" in result.stdout
