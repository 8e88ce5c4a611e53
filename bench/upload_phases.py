"""Where an upload's time goes: the real upload view, run in this process, phase by phase."""

from __future__ import annotations

import hashlib
import os
import threading
import time
import types
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import harness
from bench.bare_app import TABLE_DDL
from bench.documents import TOKEN_LEN, token_pdf
from bench.phases import PhaseClock, print_phases

ROOT = "flask/werkzeug request handling (other)"
VIEW = "upload view (other)"
ACCEPT = "accept_upload (other)"


@dataclass(frozen=True)
class Body:
    """A multipart upload body in two halves around the PDF's 16-character token."""

    pre: Path
    post: Path
    content_type: str
    size: int  # of the whole multipart body
    file_size: int


def build_body(workdir: Path, profile_id: str, file_size: int) -> Body:
    pdf, at = token_pdf(file_size)
    boundary = "sfpbench" + os.urandom(8).hex()
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="patient_id"\r\n\r\n{profile_id}'
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="lab-report.pdf"\r\nContent-Type: application/pdf\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    pre, post = workdir / "body.pre", workdir / "body.post"
    pre.write_bytes(head + pdf[:at])
    post.write_bytes(pdf[at + TOKEN_LEN :] + tail)
    (workdir / "sample.pdf").write_bytes(pdf)  # for a look with a PDF reader
    size = len(head) + len(pdf) + len(tail)
    return Body(pre, post, f"multipart/form-data; boundary={boundary}", size, len(pdf))


def bare_database(env: harness.BenchEnv) -> str:
    """The bare app's own database (so pg_stat_database tells the two apps apart), with its
    table; its URL."""
    import psycopg

    db_name = harness.DATABASES["upload_bare"][0]
    harness.fresh_database(db_name)
    url = env.database_url.replace(env.db_name, db_name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE_DDL)
    return url


class TimedHash:
    """hashlib.sha256 whose updates the clock charges to their own phase."""

    def __init__(self, clock: PhaseClock) -> None:
        self._clock, self._hash = clock, hashlib.sha256()

    def update(self, data: bytes) -> None:
        if threading.get_ident() != self._clock.owner:
            self._hash.update(data)
            return
        with self._clock.phase("sha256 (hashlib)"):
            self._hash.update(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def instrument(flask_app: Any, clock: PhaseClock) -> None:
    """Wrap the upload path's functions (undone by `clock.restore()`)."""
    import flask
    from sqlalchemy.orm import Session

    import app.api.blueprint
    import app.api.shell_files
    import app.documents.upload
    import app.runs.dispatch
    import app.runs.enqueue
    import app.storage

    view, upload, dispatcher = (
        app.api.shell_files,
        app.documents.upload,
        app.runs.dispatch.Dispatcher,
    )
    for owner, name, label in (
        (flask.Request, "_load_form_data", "multipart parsing (werkzeug)"),
        (app.api.blueprint, "authenticate", "auth: bearer-token query"),
        (view, "accessible_profile", "profile access query"),
        (upload, "accessible_profile_archived", "profile access query (outside the statement)"),
        (upload, "_store_new_document", "one statement: shell file, jobs, audit, bytes"),
        (view, "_upload_response", "response (jsonify, url_for)"),
        (upload, "accept_upload", ACCEPT),
        (upload, "sniff_mime", "libmagic sniff"),
        (upload, "_earlier_answer", "dedupe query (same sha256?)"),
        (upload, "audit_document", "audit row (audit_document)"),
        (app.runs.enqueue, "enqueue_pipeline", "job rows (enqueue_pipeline)"),
        (app.storage.DatabaseBlobStore, "put", "blob chunk INSERT (bytea)"),
        (app.storage.FileBlobStore, "put", "blob file write + fsync"),
        (dispatcher, "publish_after_commit", "publish_after_commit (rest: mark published)"),
        (dispatcher, "publish", "publish chain to Redis (kombu)"),
        (dispatcher, "flush_marks", "mark published (batched UPDATE, when due)"),
        (dispatcher, "epoch", "broker epoch (Redis INFO, cached 5 s)"),
    ):
        clock.wrap(owner, name, label)
    clock.wrap(Session, "flush", "ORM flush (pending INSERTs)", weak=True)
    clock.wrap(Session, "commit", "COMMIT (upload transaction)", weak=True)
    clock.wrap_sql(Session)
    clock.wrap_ping(flask_app)
    clock.patch(upload, "hashlib", types.SimpleNamespace(sha256=lambda: TimedHash(clock)))
    views, name = flask_app.view_functions, "api.upload_shell_file"
    view_function = views[name]
    views[name] = clock.timed(VIEW, view_function)
    clock.on_restore(lambda: views.__setitem__(name, view_function))
    teardowns = flask_app.teardown_appcontext_funcs
    originals = list(teardowns)
    teardowns[:] = [clock.timed("request teardown (session close)", f) for f in originals]
    clock.on_restore(lambda: teardowns.__setitem__(slice(None), originals))


def drive(
    wsgi_app: Any,
    bodies: Iterator[bytes],
    headers: dict[str, str],
    content_type: str,
    clock: PhaseClock | None,
    count: int,
) -> dict[str, Any]:
    """`count` uploads one after another; ms of wall and process CPU per upload."""
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    wall = cpu = 0.0
    statuses: Counter[int] = Counter()
    for _ in range(count):
        builder = EnvironBuilder(
            path=harness.UPLOAD_PATH, method="POST", data=next(bodies), headers=headers
        )
        builder.content_type = content_type
        environ = builder.get_environ()
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
    env: harness.BenchEnv,
    token: str,
    bare_url: str,
    body: Body,
    *,
    count: int = 200,
    warmup: int = 20,
) -> dict[str, Any]:
    """Per-phase wall/CPU ms of `count` sequential uploads through the real app in this
    process, and the total of the same uploads through the bare app."""
    env.apply_to_this_process()
    from app import create_app
    from bench import bare_app

    pre, post, serial = body.pre.read_bytes(), body.post.read_bytes(), iter(range(10**9))

    def bodies(tag: int) -> Iterator[bytes]:
        while True:
            yield pre + f"{tag:02x}{os.getpid() % 0xFFFF:04x}{next(serial):010x}".encode() + post

    headers = {"Authorization": f"Bearer {token}"}
    flask_app = create_app()
    clock = PhaseClock(frozenset({ROOT, VIEW, ACCEPT}))
    instrument(flask_app, clock)
    try:
        drive(flask_app, bodies(0xA1), headers, body.content_type, clock, warmup)
        clock.take()
        ours = drive(flask_app, bodies(0xA2), headers, body.content_type, clock, count)
    finally:
        clock.restore()
    plain = drive(flask_app, bodies(0xA3), headers, body.content_type, None, count)
    os.environ["DATABASE_URL"] = bare_url
    try:
        bare = bare_app.create_app()
    finally:
        os.environ["DATABASE_URL"] = env.database_url
    drive(bare, bodies(0xB1), {}, body.content_type, None, warmup)
    bare_figures = drive(bare, bodies(0xB2), {}, body.content_type, None, count)
    flask_app.extensions["db"].engine.dispose()
    return {"uploads": count, "ours_instrumented": ours, "ours_uninstrumented": plain,
            "bare": bare_figures, "phases": clock.per(count, "upload")}  # fmt: skip


def print_breakdown(result: dict[str, Any]) -> None:
    print_phases(
        f"Where one upload's time goes (in-process, sequential, {result['uploads']} uploads, "
        "no gunicorn)",
        "Exclusive time per phase; CPU is the request thread's CPU time (Python + C + "
        "syscalls). The last two rows are whole-process CPU, so they also count work the "
        "app does in its own background threads (e.g. batched writes).",
        result["phases"], "upload",
        {"ours, not instrumented": result["ours_uninstrumented"],
         "bare app (same bodies)": result["bare"]},
    )  # fmt: skip


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    parser = harness.parser(__doc__)
    parser.add_argument("--count", type=int, default=200, help="uploads measured")
    args = parser.parse_args(argv)
    with harness.bench_env("upload_throughput", keep=args.keep_db) as env:
        try:
            bare_url = bare_database(env)
            identity = harness.create_identity(env, "phases")
            body = build_body(env.workdir, identity.profile_id, 100_000)
            result = breakdown(env, identity.token, bare_url, body, count=args.count)
        finally:
            harness.drop_database(harness.DATABASES["upload_bare"][0])
    print_breakdown(result)
    return harness.write_results("upload_phases", {"breakdown": result})


if __name__ == "__main__":
    harness.main(run)
