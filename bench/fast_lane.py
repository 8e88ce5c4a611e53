"""Fast lane, in-process: OCR + spatial mapping per page, born-digital and scanned, against
baselines measured in the same run. No services needed. See bench/README.md.
"""

from __future__ import annotations

import os

# Before anything loads Tesseract: OpenMP reads this once, at library load.
os.environ["OMP_THREAD_LIMIT"] = "1"

import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import harness
from bench.documents import born_digital_pdf, dense_lines, known_words, word_recall
from bench.harness import fmt, log, median
from bench.phases import PhaseClock

PHASE_OTHER = "other (iter_pages, PIL convert, words)"
PHASES = ("text-layer probe", "render 300 dpi (pdfium + to_pil)",
          "Tesseract read (recognise + words)", "orientation check (OSD)", "layout (map_page)",
          PHASE_OTHER)  # fmt: skip


class Retries:
    """A budget of re-measurements shared by the whole run."""

    def __init__(self, budget: int) -> None:
        self.left, self.used = budget, 0

    def take(self, noise: float) -> bool:
        """Whether to measure again after a measurement with this much noise."""
        if noise <= harness.NOISE_LIMIT or self.left <= 0:
            return False
        self.left, self.used = self.left - 1, self.used + 1
        return True


def timed(work: Callable[[], Any]) -> dict[str, float]:
    started, cpu = time.perf_counter(), time.process_time()
    work()
    return {"total": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def read_raw(path: Path, pages: int, *, boxes: bool = False) -> int:
    """pypdfium2's text of every page (with `boxes`, a char box per character); the words."""
    import pypdfium2 as pdfium

    words, pdf = 0, pdfium.PdfDocument(path)
    try:
        for index in range(pages):
            page = pdf[index]
            textpage = page.get_textpage()
            text = textpage.get_text_range()
            for char in range(len(text) if boxes else 0):
                textpage.get_charbox(char)
            words += len(text.split())
            textpage.close()
            page.close()
    finally:
        pdf.close()
    return words


def born_digital(path: Path, pages: int, reps: int, retries: Retries) -> dict[str, Any]:
    from app.pipeline import layout, ocr

    numbers = list(range(1, pages + 1))
    split = {"ocr": 0.0, "layout": 0.0}

    def ours() -> None:
        split["ocr"] = split["layout"] = 0.0
        mark = time.perf_counter()
        for page in ocr.iter_pages(path, "application/pdf", numbers):
            read = time.perf_counter()
            layout.map_page(page)
            split["ocr"] += read - mark
            mark = time.perf_counter()
            split["layout"] += mark - read

    sides: dict[str, Callable[[], Any]] = {
        "ours": ours, "raw": lambda: read_raw(path, pages),
        "raw_boxes": lambda: read_raw(path, pages, boxes=True),
    }  # fmt: skip
    words_ours = sum(len(p.words) for p in ocr.iter_pages(path, "application/pdf", numbers))
    for _ in range(2):  # warm-up: imports, pdfium, the file in the page cache
        for work in sides.values():
            work()
    runs: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    shares: list[float] = []
    while len(runs["ours"]) < reps:
        noise = harness.Noise()
        triple = {side: timed(work) for side, work in sides.items()}
        triple["ours"] |= split
        if retries.take(share := noise.share()):
            continue  # disturbed by another process: measure this pass again
        shares.append(share)
        for side, figures in triple.items():
            runs[side].append(figures)

    def per_page(side: str, key: str) -> float:
        return median([r[key] for r in runs[side]]) * 1000 / pages

    figures = {f"{side}_ms_per_page": per_page(side, "total") for side in sides}
    figures |= {f"{side}_cpu_ms_per_page": per_page(side, "cpu") for side in sides}
    figures |= {f"ours_{key}_ms_per_page": per_page("ours", key) for key in ("ocr", "layout")}
    for side in ("raw", "raw_boxes"):
        figures[f"ratio_ours_over_{side}"] = harness.ratio(
            figures["ours_ms_per_page"], figures[f"{side}_ms_per_page"]
        )
    words = {"ours": words_ours, "raw_text_split": read_raw(path, pages)}
    return {"pages": pages, "reps": reps, "characters_per_page": sum(map(len, dense_lines(1))),
            "words_read": words, "noise": round(harness.mean(shares), 3), "figures": figures,
            "runs_s": runs}  # fmt: skip


@contextmanager
def instrumented(clock: PhaseClock) -> Iterator[None]:
    """Wrap the scanned path's steps (class and module attributes, restored afterwards)."""
    import pypdfium2 as pdfium

    from app.pipeline import ocr

    clock.wrap(ocr, "_pdf_text_layer", PHASES[0])
    clock.wrap(pdfium.PdfPage, "render", PHASES[1])
    clock.wrap(pdfium.PdfBitmap, "to_pil", PHASES[1])
    clock.wrap(ocr.Tesseract, "read", PHASES[2])
    clock.wrap(ocr.Tesseract, "rotation", PHASES[3])
    try:
        yield
    finally:
        clock.restore()


def tesseract_cli(png: Path) -> tuple[float, float, str]:
    """(wall s, CPU s, text) of one `tesseract page.png - --psm 3`, single-threaded."""
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run(["tesseract", str(png), "-", "--psm", "3"], capture_output=True,
                          env={**os.environ, "OMP_THREAD_LIMIT": "1"}, check=False)  # fmt: skip
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"tesseract failed: {done.stderr.decode(errors='replace')[-500:]}")
    return wall, children_cpu() - cpu, done.stdout.decode(errors="replace")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def scan_pages(workdir: Path, pages: int) -> tuple[Path, list[Path], Path, tuple[int, int]]:
    """The dense pages at 300 dpi as an image-only PDF and as PNGs; a blank PNG; page size."""
    from PIL import Image

    from tests.support.documents import images_pdf, render_pages

    images = render_pages(born_digital_pdf(pages), dpi=300)
    scan = workdir / "scan.pdf"
    scan.write_bytes(images_pdf(images))
    pngs = [workdir / f"page-{n}.png" for n in range(1, pages + 1)]
    for image, png in zip(images, pngs, strict=True):
        image.save(png)
    Image.new("L", (64, 64), 255).save(workdir / "blank.png")
    return scan, pngs, workdir / "blank.png", images[0].size


def read_scanned(
    scan: Path, number: int, engine: Any, clock: PhaseClock
) -> tuple[Any, float, float]:
    """One page through `iter_pages` + `map_page`: (page, wall s, CPU s)."""
    from app.pipeline import layout, ocr

    clock.take()
    started, cpu = time.perf_counter(), time.process_time()
    with clock.phase(PHASE_OTHER):
        (page,) = list(ocr.iter_pages(scan, "application/pdf", [number], engine))
        with clock.phase(PHASES[4]):
            layout.map_page(page)
    return page, time.perf_counter() - started, time.process_time() - cpu


def scanned_figures(per_page: list[dict[str, Any]], fixed: float) -> dict[str, float]:
    """Ours and the CLI per page: medians, means, CPU and the ratios."""

    def med(key: str) -> float:
        return median([p[key] for p in per_page])

    def avg(key: str) -> float:
        return harness.mean([p[key] for p in per_page])

    return {
        "ours_s_per_page": med("ours_s"), "ours_mean_s_per_page": avg("ours_s"),
        "ours_cpu_s_per_page": med("ours_cpu_s"), "cli_s_per_page": med("cli_s"),
        "cli_mean_s_per_page": avg("cli_s"), "cli_cpu_s_per_page": med("cli_cpu_s"),
        "cli_fixed_cost_s": fixed, "cli_minus_fixed_s_per_page": med("cli_s") - fixed,
        "cpu_ratio_ours_over_cli": harness.ratio(med("ours_cpu_s"), med("cli_cpu_s")),
        "ratio_ours_over_cli": harness.ratio(med("ours_s"), med("cli_s")),
        "ratio_ours_over_cli_minus_fixed": harness.ratio(med("ours_s"), med("cli_s") - fixed),
    }  # fmt: skip


def scanned(workdir: Path, pages: int, reps: int, retries: Retries) -> dict[str, Any]:
    import tesserocr

    from app.pipeline import ocr

    if shutil.which("tesseract") is None:
        raise SystemExit("the tesseract CLI is not installed (apt-get install tesseract-ocr)")
    scan, pngs, blank, size = scan_pages(workdir, pages)
    engine, clock = ocr.Tesseract(), PhaseClock()
    log("scanned: warm-up (Tesseract engine load, the CLI and its model in the page cache)")
    read_scanned(scan, 1, engine, clock)
    tesseract_cli(pngs[0])
    fixed = median([tesseract_cli(blank)[0] for _ in range(3)])
    per_page: list[dict[str, Any]] = []
    with instrumented(clock):
        for rep, number in ((r, n) for r in range(1, reps + 1) for n in range(1, pages + 1)):
            while True:
                noise = harness.Noise()
                page, wall, cpu = read_scanned(scan, number, engine, clock)
                phases = clock.take()
                cli_wall, cli_cpu, cli_text = tesseract_cli(pngs[number - 1])
                if not retries.take(share := noise.share()):
                    break
                log(f"scanned page {number}: other processes used {share:.0%}; measuring again")
            expected = known_words([number])
            per_page.append({
                "rep": rep, "page": number, "ours_s": wall, "ours_cpu_s": cpu, "cli_s": cli_wall,
                "cli_cpu_s": cli_cpu, "phases_s": phases, "ours_words": len(page.words),
                "ours_recall": word_recall([w.text for w in page.words], expected),
                "ours_rotation": page.rotation, "ours_mean_confidence": page.mean_confidence,
                "cli_words": len(cli_text.split()),
                "cli_recall": word_recall(cli_text.split(), expected),
                "noise": round(share, 3),
            })  # fmt: skip
            log(f"scanned page {number} (rep {rep}): ours {wall:.2f} s (CPU {cpu:.2f}), CLI "
                f"{cli_wall:.2f} s (CPU {cli_cpu:.2f}); other processes {share:.0%}")  # fmt: skip

    figures = scanned_figures(per_page, fixed)
    cli = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False)
    versions = {"ours_tesserocr": tesserocr.tesseract_version().splitlines()[0],
                "baseline_cli": (cli.stdout.splitlines() or ["?"])[0]}  # fmt: skip
    phase_means = {k: harness.mean([p["phases_s"].get(k, 0.0) for p in per_page]) for k in PHASES}
    return {"pages": pages, "reps": reps, "image_size_px": list(size),
            "scan_pdf_bytes": scan.stat().st_size, "tesseract": versions,
            "noise": round(harness.mean([p["noise"] for p in per_page]), 3), "figures": figures,
            "phases_s_per_page": phase_means, "per_page": per_page,
            "recall": {side: harness.mean([p[f"{side}_recall"] for p in per_page])
                       for side in ("ours", "cli")}}  # fmt: skip


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    """Measure with the options `argv` (as on the command line), print the tables, and return
    the figures written to bench/results/fast_lane.json. SystemExit without the tesseract CLI."""
    parser = harness.parser(__doc__, services_used=False)
    parser.add_argument("--pages", type=int, default=20, help="born-digital pages")
    parser.add_argument("--reps", type=int, default=7, help="born-digital passes per side")
    parser.add_argument("--scan-pages", type=int, default=6, help="scanned pages")
    parser.add_argument("--scan-reps", type=int, default=1, help="passes over the scanned pages")
    parser.add_argument("--no-scan", action="store_true", help="born-digital only")
    parser.add_argument("--noisy-retries", type=int, default=8, help="measurements redone, in all")
    args = parser.parse_args(argv)
    background = harness.begin(args)
    workdir = Path(tempfile.mkdtemp(prefix="sfp-fast_lane-"))
    try:
        path = workdir / "born_digital.pdf"
        path.write_bytes(born_digital_pdf(args.pages))
        log(f"born-digital: {args.pages} pages, {args.reps} passes per side")
        retries = Retries(args.noisy_retries)
        digital = born_digital(path, args.pages, args.reps, retries)
        scan: dict[str, Any] = {}
        if not args.no_scan:
            log(f"scanned: {args.scan_pages} pages at 300 dpi, ours and the tesseract CLI")
            scan = scanned(workdir, args.scan_pages, args.scan_reps, retries)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report(args, digital, scan, background, retries.used)


def print_born_digital(digital: dict[str, Any]) -> None:
    d = digital["figures"]
    harness.table(
        f"## Fast lane, born-digital: {digital['pages']} dense pages (~"
        f"{digital['characters_per_page']:.0f} characters, 40 lines each), median of "
        f"{digital['reps']} passes",
        ["path", "ms/page", "CPU ms/page", "ours / this"],
        [["ours: iter_pages (text layer) + map_page", fmt(d["ours_ms_per_page"], 2),
          fmt(d["ours_cpu_ms_per_page"], 2), ""],
         ["  of which iter_pages (text layer, word boxes)", fmt(d["ours_ocr_ms_per_page"], 2), "",
          ""],
         ["  of which map_page (layout)", fmt(d["ours_layout_ms_per_page"], 2), "", ""],
         ["baseline: pypdfium2 get_text_range() only", fmt(d["raw_ms_per_page"], 3),
          fmt(d["raw_cpu_ms_per_page"], 3), f"**{fmt(d['ratio_ours_over_raw'], 1)}x**"],
         ["reference: get_text_range() + get_charbox() per char",
          fmt(d["raw_boxes_ms_per_page"], 2), fmt(d["raw_boxes_cpu_ms_per_page"], 2),
          f"{fmt(d['ratio_ours_over_raw_boxes'], 1)}x"]],
    )  # fmt: skip
    words = digital["words_read"]
    print(f"\nWords read: ours {words['ours']}, baseline text split on whitespace "
          f"{words['raw_text_split']}. Other processes used {digital['noise']:.0%} of the "
          "machine meanwhile.")  # fmt: skip


def print_scanned(scan: dict[str, Any]) -> None:
    s, (width, height), recall = scan["figures"], scan["image_size_px"], scan["recall"]
    harness.table(
        f"## Fast lane, scanned A4 at 300 dpi ({width}x{height} px): {scan['pages']} pages x "
        f"{scan['reps']} pass(es), one process, OMP_THREAD_LIMIT=1",
        ["path", "s/page (median)", "mean", "CPU s/page (median)", "ours / this (wall; CPU)",
         "word recall"],
        [["ours: iter_pages (render + tesserocr) + map_page", fmt(s["ours_s_per_page"], 3),
          fmt(s["ours_mean_s_per_page"], 3), fmt(s["ours_cpu_s_per_page"], 3), "",
          f"{recall['ours']:.1%}"],
         ["baseline: tesseract CLI --psm 3 on the PNG", fmt(s["cli_s_per_page"], 3),
          fmt(s["cli_mean_s_per_page"], 3), fmt(s["cli_cpu_s_per_page"], 3),
          f"**{fmt(s['ratio_ours_over_cli'], 2)}**; {fmt(s['cpu_ratio_ours_over_cli'], 2)}",
          f"{recall['cli']:.1%}"],
         ["  CLI minus its fixed cost (start + model load, blank page)",
          fmt(s["cli_minus_fixed_s_per_page"], 3), "", "",
          fmt(s["ratio_ours_over_cli_minus_fixed"], 2), ""]],
    )  # fmt: skip
    versions = scan["tesseract"]
    print(
        f"\nCLI fixed cost: {fmt(s['cli_fixed_cost_s'], 3)} s. Tesseract builds: ours "
        f"{versions['ours_tesserocr']} (tesserocr wheel), baseline {versions['baseline_cli']} "
        f"(Debian). Other processes used {scan['noise']:.0%} of the machine meanwhile."
    )
    phases = scan["phases_s_per_page"]
    total = sum(phases.values()) or float("nan")
    rows = [[label, fmt(v, 3), f"{v / total:.0%}"] for label, v in phases.items()]
    rows.append(["total", fmt(total, 3), "100%"])
    harness.table(
        "Ours, per phase (mean wall seconds per page):", ["phase", "s/page", "share"], rows
    )


def report(args: Any, digital: dict[str, Any], scan: dict[str, Any], background: dict[str, Any],
           retried: int) -> dict[str, Any]:  # fmt: skip
    print_born_digital(digital)
    d, ms = digital["figures"], harness.FLOOR_BORN_DIGITAL_MS
    rows = [harness.row("Fast lane, born-digital page (text layer + layout)",
                        d["ours_ms_per_page"], "ms/page", "pypdfium2 text only",
                        d["raw_ms_per_page"], floor=f"<= {ms:.0f} ms/page",
                        met=d["ours_ms_per_page"] <= ms)]  # fmt: skip
    if scan:
        print_scanned(scan)
        s, limit = scan["figures"], harness.FLOOR_SCAN_S_PER_PAGE
        rows.append(harness.row("Fast lane, scanned A4 page at 300 dpi (render + OCR + layout)",
                                s["ours_s_per_page"], "s/page",
                                "tesseract CLI, 1 thread, same pages", s["cli_s_per_page"],
                                floor=f"<= {limit} s/page/core",
                                met=s["ours_s_per_page"] <= limit))  # fmt: skip
    headline = harness.headline(rows)
    print(f"\nMachine busy before the benchmark started: {background['busy_percent']:.0f}%. "
          f"Measurements redone because other processes used > {harness.NOISE_LIMIT:.0%} of the "
          f"machine: {retried} (of --noisy-retries {args.noisy_retries}).")  # fmt: skip
    for label, part in (("born-digital", digital), ("scanned", scan)):
        harness.warn_noisy(part.get("noise", 0.0), f"the {label} measurements, even after retries")
    return harness.write_results("fast_lane", {
        "background_load": background,
        "parameters": {"pages": args.pages, "reps": args.reps, "scan_pages": args.scan_pages,
                       "scan_reps": args.scan_reps, "noisy_retries": args.noisy_retries,
                       "retries_used": retried,
                       "omp_thread_limit": os.environ.get("OMP_THREAD_LIMIT")},
        "born_digital": digital, "scanned": scan, "headline": headline,
    })  # fmt: skip


if __name__ == "__main__":
    harness.main(run)
