"""The scheduling loop: reap ends -> accrue usage -> decide and start, on every wake-up.

It wakes when something happened (a submit, a cancel, an end) and at least every
`tick` seconds to notice ends, and runs a full pass at least once a second so that
begin times, ages and expected starts stay current. Errors are logged; the loop goes on.

The loop shares the daemon's one thread with the API: after a pass that took T seconds
it waits at least T before the next one, so that a long queue (a pass of 0.2 s over
10,000 pending jobs) leaves at least half the time to requests, and a burst of submits
is scheduled by one pass rather than one pass each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from mlrp.services import accounting, runtime, scheduling
from mlrp.services.context import Platform

log = logging.getLogger(__name__)

FULL_PASS_EVERY = 1.0  # seconds


class SchedulingLoop:
    def __init__(self, platform: Platform, *, tick: float) -> None:
        self.platform = platform
        self.tick = tick
        self.event = asyncio.Event()
        self.stopping = False
        self.last_pass = 0.0
        self.pass_cost = 0.0  # seconds the last pass took
        self.pass_end = 0.0  # time.monotonic() when it ended
        self.cache = scheduling.PassCache()
        platform.wake = self.event.set

    async def run(self) -> None:
        while not self.stopping:
            rest = self.pass_cost - (time.monotonic() - self.pass_end)
            if rest > 0:
                await asyncio.sleep(rest)  # requests are served meanwhile
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), timeout=self.tick)
            woken = self.event.is_set()
            self.event.clear()
            try:
                self.step(woken)
            except Exception:  # one bad pass must not stop scheduling
                log.exception("scheduling step failed")

    def step(self, woken: bool) -> None:
        ended = runtime.reap(self.platform)
        accounting.accrue(self.platform)
        now = self.platform.clock()
        if woken or ended or now - self.last_pass >= FULL_PASS_EVERY:
            self.event.clear()
            started = time.monotonic()
            scheduling.run_pass(self.platform, self.cache)
            self.pass_end = time.monotonic()
            self.pass_cost = self.pass_end - started
            self.last_pass = now

    def stop(self) -> None:
        self.stopping = True
        self.event.set()
