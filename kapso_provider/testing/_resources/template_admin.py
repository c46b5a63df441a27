"""Simulator endpoints: template create, update, submit, sync and sync status."""

from __future__ import annotations

from kapso_provider.testing._resources._base import ResourceGroup


class TemplateAdminGroup(ResourceGroup):
    """The simulator's template create, update, submit, sync and sync status."""
