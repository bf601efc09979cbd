"""
The checks' tools (mypy, ruff) judged by how they ran, not only by what they printed: a tool that
crashed, or was given nothing to check, fails the check with a line saying so, instead of reading as
"no errors".
"""

from __future__ import annotations

import subprocess

TRACEBACK = "Traceback (most recent call last)"


class ToolFailed(RuntimeError):
    """A check's tool did not do its job; the message says how (its first line) and what it printed."""


def output_tail(result: subprocess.CompletedProcess[str], lines: int = 6) -> str:
    """The last lines the tool printed (stderr, else stdout), indented below the message."""
    text = (result.stderr.strip() or result.stdout.strip() or "(no output)").splitlines()[-lines:]
    return "".join(f"\n    {line}" for line in text)


def require_ran(name: str, result: subprocess.CompletedProcess[str], ok: tuple[int, ...] = (0, 1)) -> None:
    """ToolFailed unless ``result`` exited with one of the ``ok`` codes and left no traceback on stderr."""
    if result.returncode not in ok:
        raise ToolFailed(f"{name} did not run to the end (exit {result.returncode}){output_tail(result)}")
    if TRACEBACK in result.stderr:
        raise ToolFailed(f"{name} printed a traceback (exit {result.returncode}){output_tail(result)}")
