"""Upload memory: peak RSS of the gunicorn worker while it takes a ~49 MB upload.

    .venv/bin/python -m bench.upload_memory [--size-mb 49] [--uploads 2]

One gunicorn worker (`--workers 1 --threads 4` by default, the Procfile's flags
otherwise) serves `app:create_app()` with PostgreSQL blob storage (the default
for a PostgreSQL deployment). After a few small warm-up uploads, the worker's
idle RSS is the baseline. Then a ~49 MB PDF (valid: one page plus a large binary
stream object, under the 50 MiB MAX_UPLOAD_BYTES) is streamed from disk over
HTTP with http.client in 64 KiB writes and a Content-Length (the client never
holds the file), while psutil samples the worker's RSS every ~20 ms.

Reported: idle RSS, peak RSS, peak - idle, (peak - idle) / file size, and the RSS
after the upload. The upload is repeated (distinct bytes) to show whether memory
is returned. Floor (informational): the worker must not hold the whole file in
memory, i.e. (peak - idle) well under the file size.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import common
from bench.common import GunicornSettings, fmt, log, markdown_table

NAME = "upload_memory"
DB_NAME = "sfp_bench_memory"
REDIS_DB = 11
UPLOAD_PATH = "/api/v1/shell-files"
MIB = 1024 * 1024
SAMPLE_EVERY_S = 0.02


def write_big_pdf(path: Path, size: int, tag: str) -> int:
    """A valid one-page PDF of about `size` bytes, written in 1 MiB pieces (never whole
    in memory): the bulk is a binary stream object of random bytes."""
    header = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    content = b"BT /F1 16 Tf 72 720 Td (Large scan " + tag.encode() + b") Tj ET\n"
    small = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    offsets = []
    with path.open("wb") as out:
        out.write(header)
        position = len(header)
        for number, body in enumerate(small, start=1):
            offsets.append(position)
            chunk = b"%d 0 obj\n" % number + body + b"\nendobj\n"
            out.write(chunk)
            position += len(chunk)
        padding = max(0, size - position - 600)
        offsets.append(position)
        head = b"6 0 obj\n<< /Length %d >>\nstream\n" % padding
        out.write(head)
        position += len(head)
        left = padding
        while left:
            piece = os.urandom(min(MIB, left))
            out.write(piece)
            left -= len(piece)
        position += padding
        tail = b"\nendstream\nendobj\n"
        out.write(tail)
        position += len(tail)
        xref = b"xref\n0 7\n0000000000 65535 f \n" + b"".join(
            b"%010d 00000 n \n" % o for o in offsets
        )
        out.write(xref + b"trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % position)
    return path.stat().st_size


class RssSampler:
    """Samples the RSS of some processes every ~20 ms in a thread."""

    def __init__(self, pids: list[int]) -> None:
        import psutil

        self.procs = {pid: psutil.Process(pid) for pid in pids}
        self.samples: list[tuple[float, dict[int, int]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            reading = {}
            for pid, proc in self.procs.items():
                try:
                    reading[pid] = proc.memory_info().rss
                except Exception:  # noqa: BLE001 - a vanished process reads as 0
                    reading[pid] = 0
            self.samples.append((now, reading))
            self._stop.wait(SAMPLE_EVERY_S)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, pid: int) -> int:
        return max((r.get(pid, 0) for _, r in self.samples), default=0)

    def series(self, pid: int, since: float) -> list[tuple[float, float]]:
        return [(round(t - since, 3), round(r.get(pid, 0) / MIB, 2)) for t, r in self.samples]


def reset_peak(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of `pid`; False where that is not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def kernel_peak(pid: int) -> int | None:
    """VmHWM: the highest RSS the kernel saw since the last reset (no sampling gaps)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def post_file(port: int, token: str, profile_id: str, path: Path, *, name: str) -> dict[str, Any]:
    """Stream a multipart upload of `path` (64 KiB writes, Content-Length, no chunking)."""
    boundary = "sfpmem" + uuid.uuid4().hex
    preamble = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="patient_id"\r\n\r\n{profile_id}\r\n'
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: application/pdf\r\n\r\n"
    ).encode()
    epilogue = f"\r\n--{boundary}--\r\n".encode()
    length = len(preamble) + path.stat().st_size + len(epilogue)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.monotonic()
    conn.putrequest("POST", UPLOAD_PATH)
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    conn.putheader("Content-Length", str(length))
    conn.endheaders()
    conn.send(preamble)
    with path.open("rb") as source:
        while piece := source.read(64 * 1024):
            conn.send(piece)
    conn.send(epilogue)
    sent = time.monotonic()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    done = time.monotonic()
    return {
        "status": response.status,
        "body": json.loads(body or b"{}"),
        "send_s": round(sent - started, 3),
        "total_s": round(done - started, 3),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=49.0, help="file size in MB (10^6)")
    parser.add_argument("--uploads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be under 10%% busy",
    )
    parser.add_argument("--keep-db", action="store_true")
    return parser.parse_args(argv)


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv`, print the table, and return the figures written to
    bench/results/upload_memory.json. Raises RuntimeError if an upload is refused."""
    args = parse_args(argv)
    settings = GunicornSettings(args.workers, args.threads)
    common.wait_for_quiet(args.wait_quiet)
    background = common.background_load()

    with (
        common.bench_env(NAME, DB_NAME, REDIS_DB, keep=args.keep_db) as env,
        common.Processes(env.workdir) as procs,
    ):
        identity = common.create_identity(env, "memory")
        from bench.upload_throughput import build_pdf

        log(f"starting gunicorn {settings.label}")
        child, port = common.start_gunicorn(
            procs, "web", "app:create_app()", settings, env.env(), "/api/v1/openapi.json"
        )
        workers = common.worker_pids(child.pid)
        small = env.workdir / "small.pdf"
        for i in range(6):  # warm every thread's path: imports, libmagic, pool, broker
            pdf, at = build_pdf(100_000, seed=i)
            small.write_bytes(pdf[:at] + f"{i:016x}".encode() + pdf[at + 16 :])
            answer = post_file(port, identity.token, identity.profile_id, small, name="warm.pdf")
            if answer["status"] != 201:
                raise RuntimeError(f"warm-up upload failed: {answer}")
        time.sleep(0.5)
        with RssSampler(workers) as idle_sampler:
            time.sleep(1.0)
        idle = {pid: max(r[pid] for _, r in idle_sampler.samples) for pid in workers}

        uploads = []
        for n in range(args.uploads):
            big = env.workdir / f"big-{n}.pdf"
            size = write_big_pdf(big, int(args.size_mb * 1_000_000), uuid.uuid4().hex)
            before = {pid: rss(pid) for pid in workers}
            hwm_reset = all(reset_peak(pid) for pid in workers)
            log(f"upload {n + 1}: {size / 1e6:.1f} MB")
            with RssSampler(workers) as sampler:
                started = time.monotonic()
                answer = post_file(port, identity.token, identity.profile_id, big, name="scan.pdf")
                time.sleep(0.5)
            after = {pid: rss(pid) for pid in workers}
            hwm = {pid: kernel_peak(pid) if hwm_reset else None for pid in workers}
            big.unlink()
            busiest = max(
                workers, key=lambda pid: max(sampler.peak(pid), hwm[pid] or 0) - before[pid]
            )
            sampled_peak = sampler.peak(busiest)
            peak = max(sampled_peak, hwm[busiest] or 0)
            uploads.append(
                {
                    "file_bytes": size,
                    "status": answer["status"],
                    "mime_type": answer["body"].get("mime_type"),
                    "send_s": answer["send_s"],
                    "total_s": answer["total_s"],
                    "worker_pid": busiest,
                    "rss_before": before[busiest],
                    "rss_peak": peak,
                    "rss_after": after[busiest],
                    "samples": len(sampler.samples),
                    "rss_peak_sampled": sampled_peak,
                    "rss_peak_kernel_vmhwm": hwm[busiest],
                    "series_mib": sampler.series(busiest, started),
                }
            )
            log(
                f"  status {answer['status']} in {answer['total_s']:.2f} s; worker RSS "
                f"{before[busiest] / MIB:.1f} -> peak {peak / MIB:.1f} -> "
                f"{after[busiest] / MIB:.1f} MiB"
            )
        with env.psql() as conn:
            stored = conn.execute(
                "SELECT count(*), coalesce(max(file_size_bytes), 0) FROM shell_files"
                " WHERE file_size_bytes > 1000000"
            ).fetchone()
        procs.stop(child)

    return report(args, settings, idle, uploads, stored, background)


def main() -> None:
    common.install_signal_handlers()
    run(sys.argv[1:])


def report(
    args: Any,
    settings: GunicornSettings,
    idle: dict[int, int],
    uploads: list[dict[str, Any]],
    stored: Any,
    background: dict[str, Any],
) -> dict[str, Any]:
    print(
        f"\n## Upload memory: ~{args.size_mb:.0f} MB PDF streamed to gunicorn "
        f"({settings.label}), worker RSS sampled every {SAMPLE_EVERY_S * 1000:.0f} ms\n"
    )
    print(
        "Peak = the higher of the 20 ms samples and the kernel's VmHWM mark (reset through "
        "/proc/PID/clear_refs just before the upload, so no spike between samples is missed).\n"
    )
    rows = []
    for n, up in enumerate(uploads, start=1):
        base = idle[up["worker_pid"]]
        growth = up["rss_peak"] - base
        hwm = up["rss_peak_kernel_vmhwm"]
        rows.append(
            [
                str(n),
                fmt(up["file_bytes"] / MIB, 1),
                str(up["status"]),
                fmt(up["total_s"], 2),
                fmt(base / MIB, 1),
                fmt(up["rss_peak_sampled"] / MIB, 1),
                fmt(hwm / MIB, 1) if hwm else "n/a",
                fmt(growth / MIB, 1),
                fmt(growth / up["file_bytes"], 3),
                fmt(up["rss_after"] / MIB, 1),
            ]
        )
    print(
        markdown_table(
            [
                "upload",
                "file MiB",
                "status",
                "seconds",
                "idle RSS MiB (baseline)",
                "peak RSS MiB (sampled)",
                "peak RSS MiB (VmHWM)",
                "peak - idle MiB",
                "(peak - idle) / file",
                "RSS after MiB",
            ],
            rows,
        )
    )
    worst = max((up["rss_peak"] - idle[up["worker_pid"]]) / up["file_bytes"] for up in uploads)
    ok = all(up["status"] == 201 for up in uploads)
    print("\nFloor (informational):\n")
    print(
        markdown_table(
            ["floor", "measured", "met"],
            [
                [
                    "worker does not hold the whole file ((peak - idle) / file < 0.5)",
                    fmt(worst, 3),
                    "yes" if worst < 0.5 else "NO",
                ],
                ["uploads accepted (201)", "yes" if ok else "NO", "yes" if ok else "NO"],
            ],
        )
    )
    print(f"\n({stored[0]} large shell files stored in PostgreSQL, largest {stored[1]} bytes.)")
    print(f"\nMachine busy before the benchmark started: {background['busy_percent']:.0f}%.")
    payload: dict[str, Any] = {
        "background_load": background,
        "parameters": {
            "size_mb": args.size_mb,
            "uploads": args.uploads,
            "gunicorn": settings.as_dict(),
            "sample_every_s": SAMPLE_EVERY_S,
            "blob_storage": "db",
        },
        "idle_rss_bytes": {str(k): v for k, v in idle.items()},
        "uploads": uploads,
        "worst_growth_over_file": worst,
    }
    path = common.write_results(NAME, payload)
    print(f"\nresults: {path.relative_to(common.PROJECT_ROOT)}")

    return payload


if __name__ == "__main__":
    main()
