"""A delivery-key store on a database table: the sample of docs/inbound-messages.md, used by the tests.

Written for SQLite so that the tests need no server; the statements are PostgreSQL's too.
"""

# [START howto_webhooks_kapso_sql_store]
import sqlite3
import time
from contextlib import closing

from kapso_provider.webhooks import ClaimState


class SqliteIdempotencyStore:
    """Delivery keys in a database table, shared by every process that opens the same database.

    A handled key has no expiry (``expires_at`` is NULL); a claim expires ``lease_seconds`` after it was made.
    Each method is one atomic statement, so concurrent processes never both claim a key.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        with closing(self._connect()) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS kapso_webhook_keys (key TEXT PRIMARY KEY, token TEXT, expires_at REAL)"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)  # autocommit: one statement each

    def claim(self, key: str, *, token: str, lease_seconds: float) -> ClaimState:
        now = time.time()
        with closing(self._connect()) as db:
            # Insert the claim, or take over an expired one; a handled key or a live claim stays as it is.
            taken = db.execute(
                "INSERT INTO kapso_webhook_keys VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET token = excluded.token, expires_at = excluded.expires_at"
                " WHERE kapso_webhook_keys.expires_at IS NOT NULL AND kapso_webhook_keys.expires_at <= ?",
                (key, token, now + lease_seconds, now),
            ).rowcount
            if taken:
                return "claimed"
            row = db.execute("SELECT expires_at FROM kapso_webhook_keys WHERE key = ?", (key,)).fetchone()
        # No row: the claim was released just now; answering "in progress" has Kapso retry a little later.
        return "handled" if row is not None and row[0] is None else "in_progress"

    def mark_handled(self, key: str, *, token: str) -> None:
        with closing(self._connect()) as db:
            db.execute(
                "INSERT INTO kapso_webhook_keys VALUES (?, NULL, NULL) ON CONFLICT (key) DO UPDATE"
                " SET token = NULL, expires_at = NULL",
                (key,),
            )

    def release(self, key: str, *, token: str) -> None:
        with closing(self._connect()) as db:
            db.execute("DELETE FROM kapso_webhook_keys WHERE key = ? AND token = ?", (key, token))

    # [END howto_webhooks_kapso_sql_store]
