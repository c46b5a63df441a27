"""What every Kapso operator and sensor mixes in: the ``hook`` it talks through.

No Airflow and no HTTP client at import time: the hook (and with it ``requests``) is imported on first use,
in ``execute``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kapso_provider.hooks.kapso import KapsoHook

__all__ = ["KapsoHookMixin"]


class KapsoHookMixin:
    """The ``hook`` every Kapso operator and sensor talks through, built from ``kapso_conn_id`` on first use.

    First use is in ``execute``, after Airflow rendered the templates, so a templated connection id works;
    the hook (and with it ``requests``) is imported only then.
    """

    kapso_conn_id: str

    @cached_property
    def hook(self) -> KapsoHook:
        """A hook on ``kapso_conn_id``."""
        from kapso_provider.hooks.kapso import KapsoHook

        return KapsoHook(kapso_conn_id=self.kapso_conn_id)

    def close_hook(self) -> None:
        """Close the hook's sessions, if it was built."""
        hook: KapsoHook | None = self.__dict__.get("hook")
        if hook is not None:
            hook.close()
