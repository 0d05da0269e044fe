"""CPU time from /proc: a worker's processes, PostgreSQL's backends, the whole machine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
Stats = list[tuple[int, str, list[str]]]


def proc_stats() -> Stats:
    """(pid, name, the fields after the name) of every process in /proc; [] without /proc."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    found = []
    for entry in filter(str.isdigit, entries):
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        found.append((int(entry), name, stat[stat.rindex(")") + 2 :].split()))
    return found


def process_cpu_seconds(pid: int, stats: Stats) -> float | None:
    """User + system CPU seconds of ``pid`` and its children (the pool's processes)."""
    times = [
        (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
        for found, _, fields in stats
        if found == pid or int(fields[1]) == pid  # fields[1]: the parent's pid
    ]
    return sum(times) if times else None


def database_cpu_seconds(stats: Stats) -> float | None:
    """CPU seconds of PostgreSQL's ended backends: the user + system time of the postmaster's
    children it has reaped (a backend ends with its connection, so with each task at
    ``CONN_MAX_AGE = 0``). None when PostgreSQL doesn't run on this machine."""
    names = {pid: name for pid, name, _ in stats}
    times = [
        (int(fields[13]) + int(fields[14])) / TICKS  # cutime, cstime
        for _, name, fields in stats
        if name == "postgres" and names.get(int(fields[1])) != "postgres"  # the postmaster
    ]
    return sum(times) if times else None


def machine_cpu_seconds() -> float | None:
    """CPU seconds every process on the machine used (all but idle and iowait), /proc/stat."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in first[1:9])
    return (user + nice + system + irq + softirq + steal) / TICKS


@dataclass(frozen=True)
class CpuUse:
    """CPU ms per message: the worker's processes, PostgreSQL's backends, the machine (None
    where /proc cannot tell)."""

    worker: float | None
    database: float | None
    machine: float | None

    @staticmethod
    def counters(worker_pid: int) -> tuple[float | None, ...]:
        """The worker's, PostgreSQL's and the machine's CPU seconds, from one read of /proc."""
        stats = proc_stats()
        return (
            process_cpu_seconds(worker_pid, stats),
            database_cpu_seconds(stats),
            machine_cpu_seconds(),
        )

    @classmethod
    def between(
        cls, before: tuple[float | None, ...], after: tuple[float | None, ...], messages: int
    ) -> CpuUse:
        return cls(
            *(
                None if b is None or a is None else (a - b) / messages * 1e3
                for b, a in zip(before, after)
            )
        )
