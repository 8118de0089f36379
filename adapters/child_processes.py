"""Fresh interpreters of crm-core that work beside this process, and how they end.

Catch-up (``adapters/catch_up_workers.py``) and CSV import (``adapters/cli/
import_workers.py``) split CPU-bound Python among processes. The children are fresh
interpreters (``python -m <module>``), not forks or ``multiprocessing`` children: forking a
process that holds connection pools and threads is unsafe, and ``multiprocessing``'s spawn
re-imports the host's ``__main__``, which an embedding host did not write to be imported
twice. A child's stdin stays open for as long as the parent wants it working: end of file
means the parent is gone, and so should the child be, rather than write on alone.
"""

from __future__ import annotations

import contextlib
import os
import subprocess  # nosec B404 # runs this interpreter on our own modules, no shell
import sys
import threading
from collections.abc import Callable, Sequence

# The exit status of a child that stopped because its parent went away.
ORPHANED = 3


def start_child(module: str) -> subprocess.Popen[bytes]:
    """``python -m module`` with this interpreter and this process's import path, its
    stdin and stdout pipes to us, its stderr (logs) ours."""
    return subprocess.Popen(  # noqa: S603 # nosec B603 # this interpreter, our module, no shell
        [sys.executable, "-m", module],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    )


def end_children(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Close every pipe; a child still running (this process was interrupted) is stopped
    and waited for, so that none is left writing on its own."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def stop_when_orphaned(on_line: Callable[[bytes], None] | None = None) -> None:
    """In a child: watch stdin in a thread; each line the parent sends goes to
    ``on_line``; at end of file the parent is gone, and this process exits at once
    (``ORPHANED``; an open transaction rolls back)."""

    def watch() -> None:
        # The file descriptor, not ``sys.stdin``: a thread blocked in a buffered read
        # holds its lock, which the interpreter's shutdown then waits for in vain.
        pending = b""
        while chunk := os.read(stdin, 4096):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if on_line is not None:
                for line in lines:
                    on_line(line)
        os._exit(ORPHANED)

    stdin = sys.stdin.fileno()
    threading.Thread(target=watch, name="crm-parent-watch", daemon=True).start()
