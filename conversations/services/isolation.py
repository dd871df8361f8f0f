"""Run a function in a child process that is bounded in time and memory.

Used for work on untrusted input (decoding uploaded images): a crafted file that makes a decoder
loop, allocate without end or crash then kills a disposable child, never the web server.

The children come from a "forkserver": a small process started once (lazily, on the first call)
that forks one fresh child per call. Forking the web server itself would copy its threads' locks
in whatever state they are in; the fork server has a single thread. The modules listed in
`PRELOAD` (and those the running `__main__` script imports, see `_main_imports`) are imported
once in the fork server, so a child starts in a few milliseconds instead of importing Pillow.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import resource
import sys
import threading
import traceback
import types
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from typing import Any, TypeVar, TypeVarTuple, cast

logger = logging.getLogger(__name__)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

# Imported by the fork server before it forks any child (a module missing here is skipped).
PRELOAD = ("conversations.services.images",)

# How long a child that has sent its answer may take to exit before it is killed.
EXIT_GRACE_SECONDS = 2.0

_context: ForkServerContext | None = None
_context_lock = threading.Lock()


class IsolatedFailure(Exception):
    """The child timed out, ran out of memory, crashed, or raised an unexpected exception."""


def run_isolated(
    function: Callable[[*Ts], T],
    *args: *Ts,
    timeout: float,
    memory_bytes: int,
    passthrough: tuple[type[BaseException], ...] = (),
) -> T:
    """Return `function(*args)` computed in a new child process.

    The child may use at most `memory_bytes` of address space and `timeout` seconds of wall
    time; it is killed past the latter. `function`, `args` and the result cross the process
    boundary by pickle, so `function` must be importable (module level). An exception of a
    `passthrough` type raised by `function` is re-raised here as it is; anything else that goes
    wrong raises IsolatedFailure (and is logged).
    """
    context = _get_context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child_main,
        args=(sender, function, args, timeout, memory_bytes, passthrough),
        name=f"isolated-{getattr(function, '__name__', 'function')}",
        daemon=True,
    )
    name = process.name
    exitcode: int | None = None
    try:
        try:
            process.start()
        finally:
            # Only the child keeps the sending end: its death then reads as EOF here.
            sender.close()
        if not receiver.poll(timeout):
            process.kill()
            logger.warning("%s timed out after %.1f s; killed", name, timeout)
            raise IsolatedFailure(f"{name} timed out")
        try:
            outcome = receiver.recv()
        except (EOFError, OSError):
            # Killed by the kernel (address space, CPU time limit) or crashed in C code.
            outcome = None
    finally:
        receiver.close()
        exitcode = _reap(process)
    if outcome is None:
        logger.warning("%s died without an answer (exit code %s)", name, exitcode)
        raise IsolatedFailure(f"{name} died")
    kind, payload = outcome
    if kind == "returned":
        return cast(T, payload)
    if kind == "raised":
        raise payload
    logger.warning("%s failed:\n%s", name, payload)
    raise IsolatedFailure(f"{name} failed")


def _reap(process: multiprocessing.process.BaseProcess) -> int | None:
    """Make sure the child is gone and its file descriptors are closed (no zombie, no leak);
    return its exit code (negative: the signal that killed it)."""
    if process.pid is None:  # start() failed
        return None
    process.join(EXIT_GRACE_SECONDS)
    if process.exitcode is None:
        process.kill()
        process.join()
    exitcode = process.exitcode
    process.close()
    return exitcode


def _child_main(
    sender: Connection,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    timeout: float,
    memory_bytes: int,
    passthrough: tuple[type[BaseException], ...],
) -> None:
    """Runs in the child: bound itself, call the function, send back the outcome."""
    _limit(resource.RLIMIT_CORE, 0)  # a crash must not litter the disk with core files
    _limit(resource.RLIMIT_AS, memory_bytes)
    # A backstop to the parent's kill: CPU seconds, if the parent itself is stuck.
    _limit(resource.RLIMIT_CPU, math.ceil(timeout) + 1)
    outcome: tuple[str, Any]
    try:
        outcome = ("returned", function(*args))
    except passthrough as error:
        outcome = ("raised", error)
    except BaseException:  # the parent only learns that it failed; the detail is logged there
        outcome = ("failed", traceback.format_exc())
    try:
        sender.send(outcome)
    except Exception:  # an unpicklable result or exception
        sender.send(("failed", traceback.format_exc()))
    finally:
        sender.close()


def _limit(which: int, value: int) -> None:
    """Lower a resource limit (soft and hard), never above a hard limit already in place."""
    _soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _get_context() -> ForkServerContext:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            # Only read when the fork server starts, i.e. on the first call.
            context.set_forkserver_preload([*PRELOAD, *_main_imports()])
            _context = context
        return _context


def _main_imports() -> list[str]:
    """The installed modules the `__main__` script imports.

    multiprocessing re-runs the parent's main script (as `__mp_main__`) in every child so that
    functions defined there can be unpickled. Run from `.venv/bin/pytest` or `.venv/bin/uvicorn`
    that costs ~150 ms per child, spent importing the modules the script imports; preloading
    those in the fork server makes the re-run nearly free. (`python -m package` skips its
    `__main__`; manage.py imports nothing costly.) Only stdlib and installed third-party modules
    qualify: the fork server preloads before anything like `django.setup()` has run, and an
    import failing there with anything but ImportError would stop every child.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        return []
    names = set()
    for value in vars(main).values():
        if isinstance(value, types.ModuleType):
            names.add(value.__name__)
        elif isinstance(value, type | types.FunctionType):
            names.add(value.__module__)
    return sorted(name for name in names if _installed(name))


def _installed(name: str) -> bool:
    top_level = name.partition(".")[0]
    if top_level == __name__.partition(".")[0]:  # this project, even when pip-installed
        return False
    if top_level in sys.stdlib_module_names:
        return True
    path = getattr(sys.modules.get(name), "__file__", None) or ""
    return "site-packages" in path or "dist-packages" in path
