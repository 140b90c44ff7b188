"""`tiergate replay`: what routing would have done (and cost) on a log of requests, offline or live."""
