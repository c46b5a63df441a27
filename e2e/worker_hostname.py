"""``[core] hostname_callable`` of the e2e Celery workers: each reports the name it was started with.

Both workers run on one machine, so the default (the machine's FQDN) would give every task instance the
same ``hostname``; ``scripts/e2e_distributed.py`` tells the workers apart by this name instead.
"""

from __future__ import annotations

import os


def hostname() -> str:
    """The worker's name from ``KAPSO_E2E_WORKER``."""
    return os.environ["KAPSO_E2E_WORKER"]
