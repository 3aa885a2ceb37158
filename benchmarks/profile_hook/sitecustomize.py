"""cProfile on demand in a benchmark's child processes (HA, the bare relay), by signal.

``bench_gateway --profile`` puts this directory on the children's PYTHONPATH and
names a folder in ``SPARK_BENCH_PROFILE_DIR``: SIGUSR1 starts a profiler that
clocks process CPU time (so time blocked in epoll or on a lock costs nothing),
SIGUSR2 stops it and writes ``<pid>.prof`` there. Without the variable it does nothing.
"""

from __future__ import annotations

import os

if _folder := os.environ.get("SPARK_BENCH_PROFILE_DIR"):
    import cProfile
    import signal
    import time
    from types import FrameType

    _profiles: list[cProfile.Profile] = []
    _dumps = _folder

    def _start(_signum: int, _frame: FrameType | None) -> None:
        profile = cProfile.Profile(time.process_time)
        _profiles.append(profile)
        profile.enable()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        profile = _profiles.pop()
        profile.disable()
        path = os.path.join(_dumps, f"{os.getpid()}.prof")
        profile.dump_stats(path + ".part")
        os.replace(path + ".part", path)

    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
