"""The sync schedule (hub.service.sync.next_delay): the interval, and exponential backoff
after failures, each with jitter."""

from __future__ import annotations

import random

from hub.service.sync import next_delay


def test_backoff_grows_exponentially_to_its_cap_with_jitter() -> None:
    rng = random.Random(7)
    assert 54 <= next_delay(60, 0, 3600, rng) <= 66
    delays = [next_delay(60, n, 3600, rng) for n in range(1, 9)]
    assert 54 <= delays[0] <= 60 and 108 <= delays[1] <= 120
    assert delays == sorted(delays[:6]) + delays[6:] and max(delays) <= 3600


def test_backoff_stops_growing_at_max_backoff() -> None:
    rng = random.Random(7)
    assert 216 <= next_delay(60, 3, 300, rng) <= 240  # 60 s doubled twice: under the cap
    capped = [next_delay(60, n, 300, rng) for n in (4, 5, 10, 1000)]
    assert all(270 <= delay <= 300 for delay in capped)  # the cap, less its jitter
