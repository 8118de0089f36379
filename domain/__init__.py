"""The CRM domain: aggregates, their events and the rules between them.

Nothing here performs I/O or knows how events are stored; the import-linter contracts in
``pyproject.toml`` keep it that way.
"""
