"""The garbage collector's pace for a long-running hub or worker.

CPython collects its youngest generation after every 700 new container objects, and a
collection that reaches the oldest generation walks every object the process holds.  A
hub holds thousands of connections, each with its tasks, frames and buffers, so in the
reconnect storm (``make bench``, ``storm``) a hub spent about 23 % of its CPU in the
collector (0.84 s of 3.6 s, measured with ``gc.callbacks``).

``tune()`` is called once the process has started (settings read, app built):

- ``gc.freeze()`` moves what startup made (modules, the app, caches) out of the
  collector's sight: it lives as long as the process and no collection walks it again;
- the youngest generation is collected after ``young`` allocations instead of 700, and
  the older ones after 10 collections of the one below: fewer walks of the whole heap.

Cycles of garbage still go, a little later: the young generation holds at most
``young`` more objects (a few megabytes at most).  The same quick storm after it: the
collector took 0.26-0.39 s of CPU, and the hub's CPU for the storm fell by about a fifth.
"""

from __future__ import annotations

import gc

YOUNG = 10_000
OLDER = 10


def tune(young: int = YOUNG) -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, OLDER, OLDER)
