"""Kapso's API v1 (the Legacy API): ``https://app.kapso.ai/api/v1``, key in ``X-API-Key``.

One module per group of endpoints; their files are ``openapi.yaml``, ``openapi-whatsapp.yaml``,
``openapi-platform.yaml`` and ``openapi-agents.yaml`` (``../shared/kapso-api/`` in the repository's
workspace, and summarized in ``docs/kapso-api-notes.md``). Where the files disagree, each module says which
one it follows and why.
"""
