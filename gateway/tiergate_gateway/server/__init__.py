"""The HTTP server and process wiring: app factory, fast path, uvicorn protocol, routes, settings.

The top layer: it builds everything below once at start-up and hands each request to
`dispatch`. Nothing below imports it.
"""
