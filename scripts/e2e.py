"""``make e2e``: the example DAGs in a real Airflow deployment against the Kapso simulator, then the browser.

Unlike ``dags test``, this runs what users run: an api-server, a scheduler handing tasks to LocalExecutor
workers (which fetch ``kapso_default`` and push XCom through the execution API), a dag-processor and a
triggerer for the deferrable sensor. Everything listens on 127.0.0.1 and lives in a temporary
AIRFLOW_HOME; every process is started in its own process group and every group is stopped at the end,
also on failure and on Ctrl-C.

Steps: start the simulator and Airflow, store ``kapso_default`` through the REST API, trigger the example
DAGs through the REST API, compare each task's XCom (read over REST) with what the simulator stored, then
run ``e2e/connection-form.mjs`` (playwright-core driving Debian's Chromium) against the live UI.

Run it as ``.venv/bin/python scripts/e2e.py``; ``--keep`` keeps the temporary directory (logs) on success.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from e2e_examples import check_all_accounted, example_runs, finish_examples, start_examples, verify_examples
from e2e_harness import (
    REPO_ROOT,
    Api,
    Deployment,
    Steps,
    airflow_commands,
    arguments,
    check,
    create_connection,
    db_migrate,
    new_deployment,
    read_simulator,
    run_deployment,
    start,
    start_simulator,
    wait_healthy,
)

E2E_DIR = REPO_ROOT / "e2e"
SCREENSHOT = REPO_ROOT / "docs" / "images" / "connection-form.png"
CHROMIUM = Path("/usr/bin/chromium")


def make_deployment(home: Path) -> Deployment:
    return new_deployment(
        home,
        {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "example_dags"),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            # The default would fork 32 workers on a 2-core machine.
            "AIRFLOW__CORE__PARALLELISM": "4",
        },
    )


def start_airflow(dep: Deployment, steps: Steps) -> None:
    db_migrate(dep, steps)
    with steps.step("airflow: 4 processes healthy"):
        started = [start(name, argv, env=dep.env, home=dep.home) for name, argv in airflow_commands(dep).items()]
        dep.services.extend(started)
        wait_healthy(dep, started)


# -- the browser --


def browser_test(dep: Deployment, steps: Steps, screenshot: Path) -> None:
    with steps.step("browser: connection form (Chromium)"):
        check(CHROMIUM.exists(), f"{CHROMIUM} is missing: apt-get install -y chromium")
        check(shutil.which("node") is not None, "node is not on PATH")
        check((E2E_DIR / "node_modules" / "playwright-core").is_dir(), "run `npm ci --prefix e2e` first")
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **dep.env,
            "E2E_AIRFLOW_URL": dep.api_url,
            "E2E_KAPSO_BASE_URL": dep.base_url,
            "E2E_KAPSO_API_KEY": dep.api_key,
            "E2E_SCREENSHOT": str(screenshot),
            "E2E_CHROMIUM": str(CHROMIUM),
            "E2E_ARTIFACTS": str(dep.home / "browser"),
        }
        node = start("browser", ["node", str(E2E_DIR / "connection-form.mjs")], env=env, home=dep.home)
        dep.services.append(node)
        try:
            code = node.process.wait(timeout=180)
        except subprocess.TimeoutExpired:
            code = None
        print(node.tail(60), flush=True)
        check(code == 0, f"e2e/connection-form.mjs failed (exit {code})")


# -- main --


def main() -> int:
    parser = arguments(__doc__)
    parser.add_argument("--skip-browser", action="store_true", help="only the DAG runs")
    parser.add_argument(
        "--screenshot", type=Path, default=SCREENSHOT, help=f"where the filled form goes (default: {SCREENSHOT})"
    )
    args = parser.parse_args()

    def body(dep: Deployment, steps: Steps) -> None:
        start_simulator(dep, steps)
        start_airflow(dep, steps)
        api = Api(dep)
        create_connection(dep, api, steps)
        runs = example_runs()
        start_examples(dep, api, runs, steps)
        finish_examples(dep, api, runs, steps)
        with steps.step("XCom over REST vs simulator"):
            stored = read_simulator(dep)
            check_all_accounted(stored, verify_examples(api, runs, stored))
        if not args.skip_browser:
            browser_test(dep, steps, args.screenshot.resolve())

    return run_deployment(prefix="kapso-e2e-", keep=args.keep, build=make_deployment, body=body)


if __name__ == "__main__":
    sys.exit(main())
