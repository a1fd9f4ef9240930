"""The time cap every benchmark honours: it stops early, says so once, and never runs unbounded."""

import sys
import time


class Deadline:
    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds
        self.seconds = seconds
        self.warned = False

    def passed(self) -> bool:
        if time.monotonic() > self.end:
            if not self.warned:
                print(f"WARNING: --max-seconds {self.seconds:.0f} reached; stopping early", file=sys.stderr)
                self.warned = True
            return True
        return False
