"""The OpenAI-compatible gateway that routes each request to a tier and falls back down a chain."""
