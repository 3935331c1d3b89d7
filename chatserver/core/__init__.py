"""Pure decision code: no I/O, no clock, no randomness.  Functions take state and ``now``
and return what to do; the shells in ``store/`` and ``hub/`` carry it out."""
