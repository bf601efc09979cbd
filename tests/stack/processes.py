"""
A deployment's processes, read from ``/proc``: parents, process groups, command lines; and signals
that do nothing to a process already gone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def signal_pid(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def parent_pid(pid: int) -> int | None:
    """The parent of a live process (``None`` once it has gone)."""
    return int(fields[1]) if (fields := proc_stat(pid)) else None


def command_line(pid: int) -> str:
    """A live process's command line, arguments joined by spaces (``""`` once it has gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ").strip()
    except OSError:
        return ""


def group_of(pid: int) -> int | None:
    return int(fields[2]) if (fields := proc_stat(pid)) else None


def processes_below(pids: Iterable[int]) -> list[int]:
    """Every live process below ``pids`` (by parent pid), whatever its process group."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        if fields := proc_stat(int(stat.parent.name)):
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: list[int] = []
    todo = list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.append(child)
                todo.append(child)
    return found


def process_group(pgid: int) -> list[int]:
    return [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if group_of(int(stat.parent.name)) == pgid
    ]
