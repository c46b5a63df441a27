"""``make demo``: run the example DAG against the local Kapso simulator and show what went to XCom.

Everything happens in ``.demo/`` (or ``--home DIR``): an Airflow home with a sqlite DB, and a simulator on
127.0.0.1 that stands in for Kapso, so no account is needed and no real WhatsApp message is sent.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_HOME = REPO_ROOT / ".demo"
DAG_ID = "kapso_send_message"
TASK_ID = "send_text"


def _airflow(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "airflow", *args], env=env, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--home", type=Path, default=DEMO_HOME, help="the Airflow home to use (default: .demo/)")
    home: Path = parser.parse_args(argv).home

    from kapso_provider.testing import KapsoSimulator

    home.mkdir(parents=True, exist_ok=True)
    db_path = home / "airflow.db"
    api_key = "demo-" + secrets.token_hex(8)
    with KapsoSimulator(api_key=api_key) as simulator:
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{db_path}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_KAPSO_DEFAULT": json.dumps(
                {"conn_type": "kapso", "host": simulator.base_url, "password": api_key}
            ),
        }
        print(f"Kapso simulator listening at {simulator.base_url}")
        print(f"Preparing the Airflow metadata DB in {home} ...", flush=True)
        _airflow("db", "migrate", env=env)
        print(f"Running: airflow dags test {DAG_ID}", flush=True)
        _airflow("dags", "test", DAG_ID, env=env)
        stored = simulator.messages()

    with sqlite3.connect(db_path) as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value' "
            "ORDER BY timestamp DESC LIMIT 1",
            (DAG_ID, TASK_ID),
        ).fetchone()
    if row is None:
        print(f"No XCom record found for {DAG_ID}.{TASK_ID}", file=sys.stderr)
        return 1
    value = row[0]
    record = json.loads(value.decode() if isinstance(value, bytes) else value)
    if isinstance(record, str):  # some Airflow versions store the JSON text JSON-encoded once more
        record = json.loads(record)
    print(f"\nThe record {DAG_ID}.{TASK_ID} pushed to XCom (return_value):")
    print(json.dumps(record, indent=2, sort_keys=True))
    matches = any(message["id"] == record.get("id") for message in stored)
    print(f"\nThe simulator stored {len(stored)} message(s); the XCom record is one of them: {matches}")
    print(
        "Nothing went to WhatsApp: the kapso_default connection pointed at the Kapso simulator on 127.0.0.1,\n"
        "a stand-in for Kapso's API that stored these messages. With your API key in the connection, the\n"
        "same DAG sends through Kapso (README.md, First steps with pip)."
    )
    return 0 if matches else 1


if __name__ == "__main__":
    sys.exit(main())
