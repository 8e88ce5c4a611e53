"""Upload memory: peak RSS of the gunicorn worker while it takes a ~49 MB upload."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench import harness
from bench.documents import padded_pdf
from bench.harness import MIB, GunicornSettings, fmt, log


def upload_big(
    args: Any,
    env: harness.BenchEnv,
    port: int,
    identity: harness.Identity,
    workers: list[int],
    n: int,
) -> dict[str, Any]:
    """One large upload while the workers' RSS is sampled: the busiest worker's figures."""
    big = env.workdir / f"big-{n}.pdf"
    with big.open("wb") as out:
        out.writelines(padded_pdf(int(args.size_mb * 1_000_000), uuid.uuid4().hex[:16]))
    size = big.stat().st_size
    sampler = harness.RssSampler(workers, every=0.02)
    before = sampler.now()
    hwm_reset = all(harness.reset_kernel_peak(pid) for pid in workers)
    log(f"upload {n + 1}: {size / 1e6:.1f} MB")
    with sampler:
        answer = harness.post_file(port, identity.token, identity.profile_id, big, name="scan.pdf")
        time.sleep(0.5)
    after = sampler.now()
    big.unlink()
    hwm = {pid: harness.kernel_peak(pid) if hwm_reset else None for pid in workers}
    busiest = max(workers, key=lambda p: max(sampler.peak.get(p, 0), hwm[p] or 0) - before[p])
    peak = max(sampler.peak.get(busiest, 0), hwm[busiest] or 0)
    rss = (before[busiest] / MIB, peak / MIB, after[busiest] / MIB)
    log(f"  status {answer['status']} in {answer['total_s']:.2f} s; worker RSS "
        "{:.1f} -> peak {:.1f} -> {:.1f} MiB".format(*rss))  # fmt: skip
    return {
        "file_bytes": size, "status": answer["status"],
        "mime_type": answer["body"].get("mime_type"),
        "send_s": answer["send_s"], "total_s": answer["total_s"], "worker_pid": busiest,
        "rss_before": before[busiest], "rss_peak": peak, "rss_after": after[busiest],
        "samples": sampler.samples, "rss_peak_sampled": sampler.peak.get(busiest, 0),
        "rss_peak_kernel_vmhwm": hwm[busiest],
    }  # fmt: skip


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv`, print the table, and return the figures written to
    bench/results/upload_memory.json. Raises RuntimeError if a warm-up upload is refused."""
    parser = harness.parser(__doc__)
    parser.add_argument("--size-mb", type=float, default=49.0, help="file size in MB (10^6)")
    parser.add_argument("--uploads", type=int, default=2)
    args = parser.parse_args(argv)
    settings = GunicornSettings(1, 4)
    background = harness.begin(args)
    with (
        harness.bench_env("upload_memory", keep=args.keep_db) as env,
        harness.Processes(env.workdir) as procs,
    ):
        identity = harness.create_identity(env, "memory")
        log(f"starting gunicorn {settings.label}")
        child, port = harness.start_gunicorn(procs, "web", settings, env.env())
        workers = harness.worker_pids(child.pid)
        small = env.workdir / "small.pdf"
        for i in range(6):  # warm every thread's path: imports, libmagic, pool, broker
            small.write_bytes(b"".join(padded_pdf(100_000, f"{i:016x}", seed=i)))
            answer = harness.post_file(
                port, identity.token, identity.profile_id, small, name="w.pdf"
            )
            if answer["status"] != 201:
                raise RuntimeError(f"warm-up upload failed: {answer}")
        time.sleep(0.5)
        with harness.RssSampler(workers, every=0.02) as idle_sampler:
            time.sleep(1.0)
        idle = {pid: idle_sampler.peak[pid] for pid in workers}
        uploads = [upload_big(args, env, port, identity, workers, n) for n in range(args.uploads)]
        with env.psql() as conn:
            stored = conn.execute(
                "SELECT count(*), coalesce(max(file_size_bytes), 0) FROM shell_files"
                " WHERE file_size_bytes > 1000000"
            ).fetchone()
    return report(args, settings, idle, uploads, stored, background)


def report(
    args: Any,
    settings: GunicornSettings,
    idle: dict[int, int],
    uploads: list[dict[str, Any]],
    stored: Any,
    background: dict[str, Any],
) -> dict[str, Any]:
    rows = []
    for n, up in enumerate(uploads, start=1):
        growth, hwm = up["rss_peak"] - idle[up["worker_pid"]], up["rss_peak_kernel_vmhwm"]
        rows.append([n, fmt(up["file_bytes"] / MIB), up["status"], fmt(up["total_s"], 2),
                     fmt(idle[up["worker_pid"]] / MIB), fmt(up["rss_peak_sampled"] / MIB),
                     fmt(hwm / MIB) if hwm else "n/a", fmt(growth / MIB),
                     fmt(growth / up["file_bytes"], 3), fmt(up["rss_after"] / MIB)])  # fmt: skip
    harness.table(
        f"## Upload memory: ~{args.size_mb:.0f} MB PDF streamed to gunicorn ({settings.label}), "
        "worker RSS sampled every 20 ms\n\nPeak = the higher of the 20 ms samples and the "
        "kernel's VmHWM mark (reset through /proc/PID/clear_refs just before the upload, so no "
        "spike between samples is missed).",
        ["upload", "file MiB", "status", "seconds", "idle RSS MiB (baseline)",
         "peak RSS MiB (sampled)", "peak RSS MiB (VmHWM)", "peak - idle MiB",
         "(peak - idle) / file", "RSS after MiB"],
        rows,
    )  # fmt: skip
    worst = max((up["rss_peak"] - idle[up["worker_pid"]]) / up["file_bytes"] for up in uploads)
    accepted = all(up["status"] == 201 for up in uploads)
    growth = max(up["rss_peak"] - idle[up["worker_pid"]] for up in uploads)
    size = max(up["file_bytes"] for up in uploads)
    headline = harness.headline([harness.row(
        f"Web worker RSS growth during a {size / 1e6:.0f} MB upload", growth / MIB, "MiB",
        f"the file's size (worker idle: {min(idle.values()) / MIB:.0f} MiB)", size / MIB,
        floor="< 0.5x the file, upload accepted",
        met=worst < harness.FLOOR_MEMORY_GROWTH and accepted)])  # fmt: skip
    print(f"\n({stored[0]} large shell files stored in PostgreSQL, largest {stored[1]} bytes.)")
    harness.busy_before(background)
    return harness.write_results("upload_memory", {
        "background_load": background,
        "parameters": {"size_mb": args.size_mb, "uploads": args.uploads, "blob_storage": "db",
                       "gunicorn": settings.as_dict(), "sample_every_s": 0.02},
        "idle_rss_bytes": {str(k): v for k, v in idle.items()}, "uploads": uploads,
        "worst_growth_over_file": worst, "headline": headline,
    })  # fmt: skip


if __name__ == "__main__":
    harness.main(run)
