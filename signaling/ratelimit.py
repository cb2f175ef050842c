from __future__ import annotations

import time


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False

    def retry_after_ms(self) -> int:
        return int(max(0.0, 1 - self.tokens) / self.rate * 1000) + 1


class WindowCounter:
    """Events in the last second; used to spot abuse among rejected frames."""

    def __init__(self) -> None:
        self.window_start = time.monotonic()
        self.count = 0

    def hit(self) -> int:
        now = time.monotonic()
        if now - self.window_start >= 1:
            self.window_start = now
            self.count = 0
        self.count += 1
        return self.count
