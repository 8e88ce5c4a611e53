"""Where time goes in this process, phase by phase: the app's functions are wrapped at run
time (no app file is changed) with a clock that charges wall time (`perf_counter`) and this
thread's CPU time (`thread_time`: Python, C code and system calls) to the innermost phase
running. Used by upload_phases, engine_phases and fast_lane.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bench.harness import fmt, markdown_table

SQL_METHODS = ("execute", "scalars", "scalar")


class PhaseClock:
    """Exclusive wall and CPU time per phase; time is charged to the top of the stack. Only
    the thread that made the clock is timed: the app's own background threads pass through."""

    def __init__(self, containers: frozenset[str] = frozenset()) -> None:
        self.containers = containers  # phases inside which a weak phase (bare SQL) is its own
        self.owner = threading.get_ident()
        self.stack: list[str] = []
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._wall, self._cpu = time.perf_counter(), time.thread_time()
        self._undo: list[Callable[[], None]] = []

    def _charge(self) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        if self.stack:
            self.wall[self.stack[-1]] += wall - self._wall
            self.cpu[self.stack[-1]] += cpu - self._cpu
        self._wall, self._cpu = wall, cpu

    def enter(self, label: str) -> None:
        self._charge()
        self.stack.append(label)
        self.calls[label] += 1

    def leave(self) -> None:
        self._charge()
        self.stack.pop()

    @contextmanager
    def phase(self, label: str) -> Iterator[None]:
        self.enter(label)
        try:
            yield
        finally:
            self.leave()

    def take(self) -> dict[str, float]:
        """The wall seconds per phase so far, and start again from zero."""
        self._charge()
        taken = dict(self.wall)
        self.wall.clear()
        self.cpu.clear()
        self.calls.clear()
        return taken

    def counts(self, *, weak: bool) -> bool:
        """Whether a call runs timed: in the owner thread and, if weak (a flush, a bare
        statement), only when called straight from a container phase."""
        if threading.get_ident() != self.owner:
            return False
        return not weak or (bool(self.stack) and self.stack[-1] in self.containers)

    def timed(
        self, label: Callable[..., str] | str, func: Callable[..., Any], *, weak: bool = False
    ) -> Any:
        """`func` charged to `label` (or to `label(*args, **kwargs)`, e.g. its SQL statement)."""

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not self.counts(weak=weak):
                return func(*args, **kwargs)
            with self.phase(label if isinstance(label, str) else label(*args, **kwargs)):
                return func(*args, **kwargs)

        return wrapper

    def wrap(
        self, owner: Any, name: str, label: Callable[..., str] | str, *, weak: bool = False
    ) -> None:
        """Replace `owner.name` by its timed self until `restore()`; skipped where the code
        has no such attribute (any more)."""
        if hasattr(owner, name):
            self.patch(owner, name, self.timed(label, getattr(owner, name), weak=weak))

    def patch(self, owner: Any, name: str, value: Any) -> None:
        """Set `owner.name` to `value` until `restore()`."""
        own = not isinstance(owner, type) or name in owner.__dict__
        original = getattr(owner, name)
        setattr(owner, name, value)
        self.on_restore(lambda: setattr(owner, name, original) if own else delattr(owner, name))

    def on_restore(self, undo: Callable[[], None]) -> None:
        self._undo.append(undo)

    def wrap_sql(self, session_class: Any) -> None:
        """Session.execute/scalars/scalar called right from a container, labelled by statement."""
        for method in SQL_METHODS:
            self.wrap(session_class, method, lambda _s, stmt, *_a, **_k: describe(stmt), weak=True)

    def wrap_ping(self, flask_app: Any) -> None:
        """`app.db` pings a pooled connection only after it sat idle (`dialect.do_ping`)."""
        dialect = flask_app.extensions["db"].engine.dialect
        dialect.do_ping = self.timed("pool ping (idle connection)", dialect.do_ping)
        self.on_restore(lambda: delattr(dialect, "do_ping"))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()

    def per(self, count: int, unit: str) -> dict[str, dict[str, float]]:
        """ms per `unit` of each phase, the most CPU first."""
        found = {
            label: {"wall_ms": self.wall[label] * 1000 / count,
                    "cpu_ms": self.cpu[label] * 1000 / count,
                    f"calls_per_{unit}": self.calls[label] / count}
            for label in self.wall
        }  # fmt: skip
        return dict(sorted(found.items(), key=lambda kv: -kv[1]["cpu_ms"]))


def describe(statement: Any) -> str:
    """ "INSERT shell_files", "SELECT job_queue (+ autoflush of pending rows)", …"""
    kind = getattr(statement, "__visit_name__", "sql")
    table = getattr(getattr(statement, "table", None), "name", None)
    if table is None:
        froms = getattr(statement, "get_final_froms", lambda: [])()
        table = ", ".join(getattr(f, "name", "?") for f in froms) or "?"
    label = f"{kind.upper()} {table}"
    return label + " (+ autoflush of pending rows)" if kind == "select" else label


def print_phases(
    title: str,
    note: str,
    phases: Mapping[str, Mapping[str, float]],
    unit: str,
    totals: Mapping[str, Mapping[str, float]],
) -> None:
    """The per-phase table, then whole rows (label -> {"wall_ms", "cpu_ms"}) for comparison."""
    total_wall = sum(p["wall_ms"] for p in phases.values())
    total_cpu = sum(p["cpu_ms"] for p in phases.values()) or float("nan")
    rows = [
        [label, *(fmt(p[k], 2) for k in ("wall_ms", "cpu_ms")),
         fmt(100 * p["cpu_ms"] / total_cpu, 1), fmt(p[f"calls_per_{unit}"], 1)]
        for label, p in phases.items()
    ]  # fmt: skip
    rows.append(["**total (instrumented)**", fmt(total_wall, 2), fmt(total_cpu, 2), "100.0", ""])
    rows += [
        [label, fmt(t["wall_ms"], 2), fmt(t["cpu_ms"], 2), "", ""] for label, t in totals.items()
    ]
    print(f"\n### {title}\n\n{note}\n")
    print(markdown_table(["phase", "wall ms", "CPU ms", "CPU %", f"calls/{unit}"], rows))
