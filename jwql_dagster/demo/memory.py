"""Peak memory of the current process, for memory-bound tests and benchmarks."""

from __future__ import annotations

import resource


def peak_rss_kb() -> int:
    """Peak resident set size of this process in KiB.

    VmHWM restarts at exec, so a child process measures only itself. ``ru_maxrss`` of a
    child on Linux starts from its parent's RSS at fork/exec, which would hide the
    child's own growth; it is only the fallback where /proc is missing.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
