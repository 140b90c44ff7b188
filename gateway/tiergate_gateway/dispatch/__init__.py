"""Serving one request: walk the attempt plan, one attempt at a time, until a tier answers.

Joins the layers below: the core's plan, the runtime's admission and health, the upstream's
transport, and telemetry. The server layer calls it; it never imports the server.
"""
