"""The pure core: API views, the snapshot, classification, routing and the decision.

Nothing here does I/O, reads a clock of its own or keeps live state: every function takes what it
needs (a snapshot, a request's facts, a read-only view of live health, `now`) and returns a value.
Every other layer may import this one; it imports only `tiergate_api` and the standard library.
"""
