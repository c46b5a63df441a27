"""The transport: everything between an endpoint's request and the bytes on the wire, as pure code.

Nothing in this package does I/O. :mod:`~kapso_provider.transport.settings` parses a ``kapso``
connection; :mod:`~kapso_provider.transport.wire` describes a request and decodes an answer into JSON or the
right :class:`~kapso_provider.exceptions.KapsoAPIError`; :mod:`~kapso_provider.transport.policy` decides
what is retried; :mod:`~kapso_provider.transport.clock` places times on Kapso's clock;
:mod:`~kapso_provider.transport.flows` runs a request, a page-by-page listing or a send with its
reconciliation as a generator of *effects* (send these bytes, wait so long). The two hooks are the
drivers that carry the effects out, :class:`~kapso_provider.hooks.kapso.KapsoHook` with ``requests``
and threads, :class:`~kapso_provider.hooks.kapso.KapsoAsyncHook` with ``httpx`` and ``await``; they differ
in nothing else. ``docs/architecture.md`` draws the layers.
"""
