"""Thin HTTP routes: parse, call the dispatcher, shape the response."""
