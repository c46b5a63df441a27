"""Kapso's API generations: what each endpoint is on the wire, defined once per generation.

Every module below ``kapso_provider.api.<generation>`` holds *endpoint definitions*: plain functions that
check their arguments (raising :class:`~kapso_provider.exceptions.KapsoArgumentError` before any request)
and return an operation of :mod:`kapso_provider.transport.flows` (a request builder plus an answer
reader). They do no I/O: the hooks run them. ``v1`` is Kapso's API v1 (``https://app.kapso.ai/api/v1``),
which Kapso now calls its Legacy API.

What is generation-neutral lives elsewhere: the transport (retries, pacing, reconciliation decisions), the
message arguments a DAG author writes, the operators, sensors, triggers and their results. Adding a
generation means adding a package here whose functions have the same names and signatures (a test holds
them to it) and recognising its connections; no operator changes. ``docs/architecture.md`` shows the seam.
"""
