"""Talking to tiers: the HTTP/1.1 client, the transport seam in front of it, and the stream tap.

Knows nothing of policies or routing: it sends one request to one tier and reports what happened
as values or as `UpstreamError` subclasses.
"""
