"""Where an upload's time goes: the real upload view, run in this process, phase by phase.

The app's functions are wrapped at run time (no app file is changed) with a clock
that charges wall time (`perf_counter`) and this thread's CPU time (`thread_time`,
which includes the C code and system calls the thread runs: psycopg, libmagic,
hashlib, sockets) to the innermost phase running. Uploads go one at a time through
Flask's WSGI app (no gunicorn, no other thread), so the figures are the intrinsic
cost of one upload, free of GIL contention. The same bodies go through the bare
baseline app for comparison.

Used by bench/upload_throughput.py (printed after the load figures); runnable on
its own: `.venv/bin/python -m bench.upload_phases`.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import sys
import threading
import time
import types
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import fmt, markdown_table

ROOT = "flask/werkzeug request handling (other)"
VIEW = "upload view (other)"
ACCEPT = "accept_upload (other)"
CONTAINERS = frozenset({ROOT, VIEW, ACCEPT})


class PhaseClock:
    """Exclusive wall and CPU time per phase: time is charged to the top of the stack."""

    def __init__(self, containers: frozenset[str] = CONTAINERS) -> None:
        # Phases inside which a "weak" phase (a bare SQL call) gets its own line.
        self.containers = containers
        # Only the thread that drives the requests is timed; the app's own background
        # threads (e.g. a timer that writes batched marks) pass through untimed.
        self.owner = threading.get_ident()
        self.stack: list[str] = []
        self.wall: dict[str, float] = defaultdict(float)
        self.cpu: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._wall = self._cpu = 0.0

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

    @property
    def top(self) -> str | None:
        return self.stack[-1] if self.stack else None

    def reset(self) -> None:
        self.wall.clear()
        self.cpu.clear()
        self.calls.clear()


def _timed(clock: PhaseClock, label: str, func: Callable[..., Any], *, weak: bool) -> Any:
    """`func` charged to `label`; a weak phase only counts when called directly from the
    view or accept_upload (so a flush inside a query stays that query's)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() != clock.owner or (weak and clock.top not in clock.containers):
            return func(*args, **kwargs)
        clock.enter(label)
        try:
            return func(*args, **kwargs)
        finally:
            clock.leave()

    wrapper.__wrapped_original__ = func  # type: ignore[attr-defined]
    return wrapper


class _TimedHash:
    def __init__(self, clock: PhaseClock) -> None:
        self._clock = clock
        self._hash = hashlib.sha256()

    def update(self, data: bytes) -> None:
        if threading.get_ident() != self._clock.owner:
            self._hash.update(data)
            return
        self._clock.enter("sha256 (hashlib)")
        try:
            self._hash.update(data)
        finally:
            self._clock.leave()

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def describe_statement(statement: Any) -> str:
    """ "INSERT shell_files", "SELECT job_queue (+ autoflush)", … for a phase label."""
    kind = getattr(statement, "__visit_name__", "sql")
    table = getattr(getattr(statement, "table", None), "name", None)
    if table is None:
        froms = getattr(statement, "get_final_froms", lambda: [])()
        table = ", ".join(getattr(f, "name", "?") for f in froms) or "?"
    label = f"{kind.upper()} {table}"
    return label + " (+ autoflush of pending rows)" if kind == "select" else label


def instrument(flask_app: Any, clock: PhaseClock) -> Callable[[], None]:  # noqa: PLR0915
    """Wrap the upload path's functions; return a function that undoes it."""
    import flask
    from sqlalchemy.orm import Session

    import app.api
    import app.api.shell_files
    import app.dispatch
    import app.jobs
    import app.storage
    import app.uploads

    undo: list[Callable[[], None]] = []

    def wrap(owner: Any, name: str, label: str, *, weak: bool = False) -> None:
        if not hasattr(owner, name):  # not in this version of the code
            return
        own = not isinstance(owner, type) or name in owner.__dict__
        original = getattr(owner, name)
        setattr(owner, name, _timed(clock, label, original, weak=weak))
        undo.append(lambda: setattr(owner, name, original) if own else delattr(owner, name))

    def wrap_sql(owner: Any, name: str) -> None:
        """Session.execute/scalars/scalar called by the view itself, labelled by statement."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def wrapper(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != clock.owner or clock.top not in clock.containers:
                return original(self, statement, *args, **kwargs)
            clock.enter(describe_statement(statement))
            try:
                return original(self, statement, *args, **kwargs)
            finally:
                clock.leave()

        setattr(owner, name, wrapper)
        undo.append(lambda: setattr(owner, name, original))

    wrap(flask.Request, "_load_form_data", "multipart parsing (werkzeug)")
    wrap(app.api, "authenticate", "auth: bearer-token query")
    wrap(app.api.shell_files, "accessible_profile", "profile access query")
    wrap(app.uploads, "accessible_profile_archived", "profile access query (outside the statement)")
    wrap(app.uploads, "_store_new_document", "one statement: shell file, jobs, audit, bytes")
    wrap(app.api.shell_files, "_upload_response", "response (jsonify, url_for)")
    wrap(app.uploads, "accept_upload", ACCEPT)
    wrap(app.uploads, "sniff_mime", "libmagic sniff")
    wrap(app.uploads, "_earlier_answer", "dedupe query (same sha256?)")
    wrap(app.uploads, "log_audit_event", "audit row (log_audit_event)")
    wrap(app.jobs, "enqueue_pipeline", "job rows (enqueue_pipeline)")
    wrap(app.storage.DatabaseBlobStore, "put", "blob chunk INSERT (bytea)")
    wrap(app.storage.FileBlobStore, "put", "blob file write + fsync")
    wrap(
        app.dispatch.Dispatcher,
        "publish_after_commit",
        "publish_after_commit (rest: mark published)",
    )
    wrap(app.dispatch.Dispatcher, "publish", "publish chain to Redis (kombu)")
    wrap(app.dispatch.Dispatcher, "flush_marks", "mark published (batched UPDATE, when due)")
    wrap(app.dispatch.Dispatcher, "epoch", "broker epoch (Redis INFO, cached 5 s)")
    wrap(Session, "flush", "ORM flush (pending INSERTs)", weak=True)
    wrap(Session, "commit", "COMMIT (upload transaction)", weak=True)
    for method in ("execute", "scalars", "scalar"):
        wrap_sql(Session, method)

    dialect = flask_app.extensions["db"].engine.dialect
    # `app.db` pings a pooled connection only after it sat idle (`dialect.do_ping`).
    original_ping = dialect.do_ping
    dialect.do_ping = _timed(clock, "pool ping (idle connection)", original_ping, weak=False)
    undo.append(lambda: delattr(dialect, "do_ping"))

    original_hashlib = app.uploads.hashlib
    app.uploads.hashlib = types.SimpleNamespace(sha256=lambda: _TimedHash(clock))  # type: ignore[assignment]
    undo.append(lambda: setattr(app.uploads, "hashlib", original_hashlib))

    view = flask_app.view_functions["api.upload_shell_file"]
    flask_app.view_functions["api.upload_shell_file"] = _timed(clock, VIEW, view, weak=False)
    undo.append(lambda: flask_app.view_functions.__setitem__("api.upload_shell_file", view))

    teardowns = flask_app.teardown_appcontext_funcs
    originals = list(teardowns)
    teardowns[:] = [
        _timed(clock, "request teardown (session close)", f, weak=False) for f in originals
    ]
    undo.append(lambda: teardowns.__setitem__(slice(None), originals))

    def restore() -> None:
        for step in reversed(undo):
            step()

    return restore


def _drive(
    wsgi_app: Any,
    path: str,
    bodies: Any,
    headers: dict[str, str],
    content_type: str,
    clock: PhaseClock | None,
    count: int,
) -> dict[str, Any]:
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    wall = cpu = 0.0
    statuses: Counter[int] = Counter()
    for _ in range(count):
        body = next(bodies)
        environ = EnvironBuilder(
            path=path, method="POST", data=body, content_type=content_type, headers=headers
        ).get_environ()
        w0, c0 = time.perf_counter(), time.process_time()
        if clock is not None:
            clock.enter(ROOT)
        try:
            app_iter, status, _ = run_wsgi_app(wsgi_app, environ, buffered=True)
            b"".join(app_iter)
        finally:
            if clock is not None:
                clock.leave()
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        statuses[int(status.split()[0])] += 1
    return {
        "wall_ms": wall * 1000 / count,
        "cpu_ms": cpu * 1000 / count,
        "statuses": dict(statuses),
    }


def breakdown(
    env: common.BenchEnv,
    token: str,
    bare_database_url: str,
    pre: bytes,
    post: bytes,
    content_type: str,
    *,
    count: int = 200,
    warmup: int = 20,
) -> dict[str, Any]:
    """Per-phase wall/CPU ms of `count` sequential uploads through the real app in this
    process, and the total of the same uploads through the bare app."""
    import os

    env.apply_to_this_process()
    from app import create_app
    from bench import bare_app

    serial = iter(range(10**9))

    def bodies(tag: int) -> Any:
        while True:
            token_text = f"{tag:02x}{os.getpid() % 0xFFFF:04x}{next(serial):010x}"
            yield pre + token_text.encode() + post

    headers = {"Authorization": f"Bearer {token}"}
    path = "/api/v1/shell-files"
    flask_app = create_app()
    clock = PhaseClock()
    restore = instrument(flask_app, clock)
    try:
        _drive(flask_app, path, bodies(0xA1), headers, content_type, clock, warmup)
        clock.reset()
        ours = _drive(flask_app, path, bodies(0xA2), headers, content_type, clock, count)
    finally:
        restore()
    plain = _drive(flask_app, path, bodies(0xA3), headers, content_type, None, count)

    saved = os.environ["DATABASE_URL"]
    os.environ["DATABASE_URL"] = bare_database_url
    try:
        bare = bare_app.create_app()
    finally:
        os.environ["DATABASE_URL"] = saved
    _drive(bare, path, bodies(0xB1), {}, content_type, None, warmup)
    bare_figures = _drive(bare, path, bodies(0xB2), {}, content_type, None, count)
    flask_app.extensions["db"].engine.dispose()

    phases = {
        label: {
            "wall_ms": clock.wall[label] * 1000 / count,
            "cpu_ms": clock.cpu[label] * 1000 / count,
            "calls_per_upload": clock.calls[label] / count,
        }
        for label in clock.wall
    }
    return {
        "uploads": count,
        "ours_instrumented": ours,
        "ours_uninstrumented": plain,
        "bare": bare_figures,
        "phases": dict(sorted(phases.items(), key=lambda kv: -kv[1]["cpu_ms"])),
    }


def print_breakdown(result: dict[str, Any]) -> None:
    phases = result["phases"]
    total_wall = sum(p["wall_ms"] for p in phases.values())
    total_cpu = sum(p["cpu_ms"] for p in phases.values())
    rows = [
        [
            label,
            fmt(p["wall_ms"], 2),
            fmt(p["cpu_ms"], 2),
            fmt(100 * p["cpu_ms"] / total_cpu if total_cpu else 0.0, 1),
            fmt(p["calls_per_upload"], 1),
        ]
        for label, p in phases.items()
    ]
    rows.append(["**total (instrumented)**", fmt(total_wall, 2), fmt(total_cpu, 2), "100.0", ""])
    rows.append(
        [
            "ours, not instrumented",
            fmt(result["ours_uninstrumented"]["wall_ms"], 2),
            fmt(result["ours_uninstrumented"]["cpu_ms"], 2),
            "",
            "",
        ]
    )
    rows.append(
        [
            "bare app (same bodies)",
            fmt(result["bare"]["wall_ms"], 2),
            fmt(result["bare"]["cpu_ms"], 2),
            "",
            "",
        ]
    )
    print(
        f"\n### Where one upload's time goes (in-process, sequential, {result['uploads']} uploads, "
        "no gunicorn)\n"
    )
    print(
        "Exclusive time per phase; CPU is the request thread's CPU time (Python + C + "
        "syscalls). The last two rows are whole-process CPU, so they also count work the "
        "app does in its own background threads (e.g. batched writes).\n"
    )
    print(markdown_table(["phase", "wall ms", "CPU ms", "CPU %", "calls/upload"], rows))


def main() -> None:
    from bench.upload_throughput import BARE_DB_NAME, DB_NAME, REDIS_DB, build_body

    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="uploads measured")
    args = parser.parse_args()
    common.install_signal_handlers()
    with common.bench_env("upload_phases", DB_NAME, REDIS_DB) as env:
        try:
            common.fresh_database(BARE_DB_NAME)
            import psycopg

            from bench.bare_app import TABLE_DDL

            bare_url = env.database_url.replace(DB_NAME, BARE_DB_NAME)
            with psycopg.connect(bare_url, autocommit=True) as conn:
                conn.execute(TABLE_DDL)
            identity = common.create_identity(env, "phases")
            body = build_body(env.workdir, identity.profile_id, 100_000)
            result = breakdown(
                env,
                identity.token,
                bare_url,
                body.pre.read_bytes(),
                body.post.read_bytes(),
                body.content_type,
                count=args.count,
            )
        finally:
            common.drop_database(BARE_DB_NAME)
    print_breakdown(result)
    path = common.write_results("upload_phases", {"breakdown": result})
    print(f"\nresults: {path.relative_to(common.PROJECT_ROOT)}")


if __name__ == "__main__":
    main()
