"""Reading the ``kapso`` connection from async code, on every Airflow version and in every runner."""

from __future__ import annotations

from typing import Any


def missing_connection_text(conn_id: str, error: Exception) -> str:
    """Airflow's "isn't defined" text, with how to create the connection."""
    return (
        f"{error}. Create it with: airflow connections add {conn_id} --conn-type kapso "
        '--conn-password "$KAPSO_API_KEY" (or in the UI under Admin > Connections); see docs/connection.md.'
    )


async def aget_connection(hook: Any, conn_id: str) -> Any:
    """The connection ``conn_id``, looked up without blocking the event loop.

    Airflow 3 has an async lookup (``BaseHook.aget_connection``). Under ``airflow dags test`` it goes through
    an in-process supervisor that cannot answer for a connection stored in the metadata DB, and says the
    connection isn't defined; the sync lookup, run in a thread, reads the DB and finds it. So a miss of the
    async lookup is checked with the sync one before it is believed: a connection that truly does not
    exist still fails, with how to create it. Airflow 2.11 has only the sync lookup, run in a thread.
    """
    from airflow.providers.common.compat.sdk import AirflowNotFoundException
    from asgiref.sync import sync_to_async

    aget = getattr(type(hook), "aget_connection", None)
    if aget is not None:
        try:
            return await aget(conn_id)
        except AirflowNotFoundException as exc:
            first_miss: Exception = exc
    else:
        first_miss = AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
    try:
        return await sync_to_async(hook.get_connection)(conn_id)
    except AirflowNotFoundException:
        raise AirflowNotFoundException(missing_connection_text(conn_id, first_miss)) from None
