"""The interpreter's settings for a serving process: the GIL's switch interval and the garbage collector.

A request of tens of thousands of dirty records makes about a million
short-lived containers. Under CPython's default thresholds (700, 10, 10) they
cause hundreds of collections per request, and each full one walks the whole
heap while holding the GIL: tens of milliseconds in which neither the event
loop nor the session-health API can run, whatever thread the request is on.

Once the process is built, everything that exists lives until it exits: it is
frozen out of the collector's sight. The youngest generation then collects
after many more allocations, so a big request meets a handful of collections
instead of hundreds. Reference counting still frees everything that is not in a
cycle at once; the collector only finds cycles, which the processors do not
make per request.

A thread that computes keeps the GIL for the switch interval while the event
loop waits: the loop gives it up at every socket call, so with CPython's 5 ms
an HTTP request to the session-health API took hundreds of milliseconds while
a big request was redacted on a worker thread.
"""

from __future__ import annotations

import gc
import sys

# Allocations between two young collections. CPython's default is 700.
YOUNG_THRESHOLD = 50_000
# Young (then middle) collections between two collections of the next generation; the defaults are 10.
OLDER_THRESHOLDS = (20, 100)
# Seconds a thread computing may hold the GIL while another waits. CPython's default is 5 ms.
SWITCH_INTERVAL_S = 0.0002


def tune_for_serving() -> None:
    """Freeze what was built at start-up, collect young objects less often, hand the GIL over sooner."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
