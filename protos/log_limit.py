"""Logs a stranger cannot flood: one line per kind of event every few seconds.

Servers log what they refuse (malformed or oversized requests, bad tokens, broken
streams); a fuzzer or an attacker sends those by the thousand per second, so each
kind of event gets one line every ``LOG_EVERY`` seconds, saying how many were left
out, and no line is longer than 500 characters.
"""
from __future__ import annotations

import logging
import time

LOG_EVERY = 10.0   # seconds between log lines about refused requests, per method


class RateLimitedLog:
    """One warning line per key (a method) every ``every`` seconds; the line says how
    many were left out since the last one."""

    def __init__(self, logger: logging.Logger, every: float = LOG_EVERY, clock=time.monotonic):
        self.logger, self.every, self.clock = logger, every, clock
        self.last: dict[str, float] = {}
        self.suppressed: dict[str, int] = {}

    def warning(self, key: str, message: str, level: int = logging.WARNING) -> bool:
        """Log ``message`` unless ``key`` was logged within ``every`` seconds; True if logged."""
        now = self.clock()
        if now - self.last.get(key, -self.every) < self.every:
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return False
        self.last[key] = now
        left_out = self.suppressed.pop(key, 0)
        more = f" (and {left_out} more like it in the last {self.every:g} s, not logged)" if left_out else ""
        self.logger.log(level, "%s%s", message[:500], more)    # never the request itself in full
        return True


