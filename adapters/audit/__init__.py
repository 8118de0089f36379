"""Audit over the stored log: hash chains, streaming export and verification (DESIGN §6).

Kept free of imports at package level so that the event store can use the chain
primitives without pulling in the readers that themselves use the event store.
"""
