"""What every benchmark report starts with: the machine and the code that was measured; and the
progress lines every benchmark writes to stderr."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time


def log(message: str) -> None:
    """A progress line on stderr, with the time of day."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (or what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_name() -> str:
    """The CPU model and core count: what tells the project's hosts apart in a report."""
    return f"{cpu_model()}, {os.cpu_count()} cores"


def code_version() -> str:
    """``git describe --always --dirty`` of the checkout holding the benchmarks."""
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=os.path.dirname(os.path.abspath(__file__)),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def publish(lines: list[str], markdown: str | None) -> None:
    """Print a report and, with ``markdown``, also write it to that file."""
    report = "\n".join(lines)
    print(report)
    if markdown:
        with open(markdown, "w") as f:
            f.write(report + "\n")


def peak_rss_mb() -> float:
    """This process's peak resident set so far in MB: ``VmHWM`` of ``/proc/self/status``. (On
    Linux ``getrusage(RUSAGE_SELF).ru_maxrss`` of a spawned child starts at the *parent's* peak,
    which survives fork and exec, so it does not measure the child alone; it is only the fallback
    where ``/proc`` is missing.)"""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
