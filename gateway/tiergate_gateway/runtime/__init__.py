"""Live state of one gateway process: the current snapshot, per-tier health, rate windows, spend.

Mutable, in memory (or shared through Redis in `state.py`), driven by the clock the caller passes.
The core reads it through the read-only views it declares (`core.health_view.HealthView`).
"""
