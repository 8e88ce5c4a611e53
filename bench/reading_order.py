"""Reading order of spatial mapping against Tesseract's own word order, on real layouts."""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.pipeline.layout import map_page
from app.pipeline.ocr import PageText, Tesseract
from bench import harness
from tests.support import layouts
from tests.support.text import cer

FLOOR = 1.1


def plain_sort(page: PageText) -> str:
    """Rows of about one word height, top to bottom, each left to right."""
    if not page.words:
        return ""
    height = statistics.median(w.y1 - w.y0 for w in page.words) or 1.0
    ordered = sorted(page.words, key=lambda w: (round((w.y0 + w.y1) / 2 / height), w.x0))
    return " ".join(w.text for w in ordered)


def ours(page: PageText) -> str:
    return " ".join(line.text for line in map_page(page).lines)


def layout_at(revision: str, directory: Path) -> Callable[[PageText], str]:
    """`map_page` as app/pipeline/layout.py had it at `revision`, as a reading function."""
    source = subprocess.run(
        ["git", "show", f"{revision}:app/pipeline/layout.py"],
        cwd=harness.PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = directory / "layout_then.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("layout_then", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["layout_then"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return lambda page: " ".join(line.text for line in module.map_page(page).lines)


def per_call_ms(function: Callable[[PageText], object], page: PageText, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(page)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def readings(noisy: bool) -> list[tuple[str, layouts.LayoutPage, PageText]]:
    engine = Tesseract()
    found = []
    with tempfile.TemporaryDirectory() as directory:
        for page in layouts.all_pages():
            harness.log(f"reading {page.name}")
            found.append((page.name, page, layouts.scan(page, engine)))
            if noisy:
                found.append((f"{page.name} (noisy)", page, layouts.scan(page, engine, True)))
            found.append(
                (f"{page.name} (text layer)", page, layouts.text_layer(page, Path(directory)))
            )
    return found


def score_page(page: layouts.LayoutPage, read: PageText, repeat: int,
               then: Callable[[PageText], str] | None) -> dict[str, Any]:  # fmt: skip
    """CER of our reading, the engine's order and a plain sort; ms of map_page and the sort."""

    def score(text: str) -> float:
        return min(cer(text, " ".join(truth)) for truth in page.truths)

    mine, engine = score(ours(read)), score(read.text)
    found = {
        "engine": read.engine,
        "words": len(read.words),
        "cer_ours": mine,
        "cer_engine_order": engine,
        "cer_plain_sort": score(plain_sort(read)),
        "floor_met": mine <= FLOOR * engine,
        "map_page_ms": per_call_ms(map_page, read, repeat),
        "plain_sort_ms": per_call_ms(plain_sort, read, repeat),
    }
    if then is not None:
        found |= {"cer_then": score(then(read)), "then_ms": per_call_ms(then, read, repeat)}
    return found


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="map_page calls timed per page")
    parser.add_argument("--no-noisy", action="store_true", help="leave out the noisy scans")
    parser.add_argument("--against", metavar="REV", help="also map_page as of git revision REV")
    options = parser.parse_args(argv)
    then = layout_at(options.against, Path(tempfile.mkdtemp())) if options.against else None
    load = harness.background_load()
    rows, results = [], []
    for name, page, read in readings(not options.no_noisy):
        r = {"page": name} | score_page(page, read, options.repeat, then)
        mine, engine = r["cer_ours"], r["cer_engine_order"]
        ratio = harness.fmt(harness.ratio(mine, engine), 2) if engine else "-" if mine else "both 0"
        ms, sort_ms = r["map_page_ms"], r["plain_sort_ms"]
        rows.append(
            [
                name,
                r["words"],
                f"{mine:.3f}",
                f"{engine:.3f}",
                ratio,
                "yes" if r["floor_met"] else "NO",
                f"{r['cer_plain_sort']:.3f}",
                harness.fmt(ms, 2),
                harness.fmt(sort_ms, 2),
                harness.fmt(harness.ratio(ms, sort_ms), 1),
                *([f"{r['cer_then']:.3f}", harness.fmt(r["then_ms"], 2)] if then else []),
            ]
        )
        results.append(r)
    headers = [
        "page",
        "words",
        "CER ours",
        "CER engine order",
        "ratio",
        f"<= {FLOOR}x",
        "CER plain sort",
        "map_page ms",
        "plain sort ms",
        "time ratio",
        *([f"CER at {options.against}", f"ms at {options.against}"] if then else []),
    ]
    print(harness.markdown_table(headers, rows))
    met = all(r["floor_met"] for r in results)
    print("\nengine order: Tesseract's for scans, pdfium's (the PDF's drawing order) for text "
          f"layers. Floor met on every page: {'yes' if met else 'NO'}")  # fmt: skip
    return harness.write_results("reading_order", {
        "floor_met": met, "against": options.against, "pages": results,
        "repeat": options.repeat, "background_load": load,
    })  # fmt: skip


if __name__ == "__main__":
    harness.main(run, ok="floor_met")
