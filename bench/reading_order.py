"""Reading order of spatial mapping against Tesseract's own word order, on real layouts.

Each page of tests/support/layouts.py is read clean and noisy at 300 dpi and as a text
layer; printed: the CER of `map_page`'s text and of the engine's own word order against
the truth, of a plain row sort (the baseline), and `map_page`'s time per page. Floor:
CER(ours) <= 1.1 x CER(engine's order) on every page. `--against REV` also scores and
times `map_page` as it was at git revision REV.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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


def run(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="map_page calls timed per page")
    parser.add_argument("--no-noisy", action="store_true", help="leave out the noisy scans")
    parser.add_argument("--against", metavar="REV", help="also map_page as of git revision REV")
    options = parser.parse_args(argv)
    then = layout_at(options.against, Path(tempfile.mkdtemp())) if options.against else None
    load = harness.background_load()
    rows = []
    results = []
    for name, page, read in readings(not options.no_noisy):

        def score(text: str, page: layouts.LayoutPage = page) -> float:
            return min(cer(text, " ".join(truth)) for truth in page.truths)

        mine, engine, baseline = score(ours(read)), score(read.text), score(plain_sort(read))
        met = mine <= FLOOR * engine
        ms, sort_ms = (per_call_ms(f, read, options.repeat) for f in (map_page, plain_sort))
        ratio = harness.fmt(harness.ratio(mine, engine), 2) if engine else "-" if mine else "both 0"
        results.append(
            {
                "page": name,
                "engine": read.engine,
                "words": len(read.words),
                "cer_ours": mine,
                "cer_engine_order": engine,
                "cer_plain_sort": baseline,
                "floor_met": met,
                "map_page_ms": ms,
                "plain_sort_ms": sort_ms,
            }
        )
        rows.append(
            [
                name,
                len(read.words),
                f"{mine:.3f}",
                f"{engine:.3f}",
                ratio,
                "yes" if met else "NO",
                f"{baseline:.3f}",
                harness.fmt(ms, 2),
                harness.fmt(sort_ms, 2),
                harness.fmt(harness.ratio(ms, sort_ms), 1),
            ]
        )
        if then is not None:
            results[-1]["cer_then"] = score(then(read))
            results[-1]["then_ms"] = per_call_ms(then, read, options.repeat)
            rows[-1] += [f"{results[-1]['cer_then']:.3f}", harness.fmt(results[-1]["then_ms"], 2)]
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
    print(
        "\nengine order: Tesseract's for scans, pdfium's (the PDF's drawing order) for text "
        f"layers. Floor met on every page: {'yes' if met else 'NO'}"
    )
    payload = {
        "floor_met": met,
        "against": options.against,
        "pages": results,
        "repeat": options.repeat,
        "background_load": load,
    }
    harness.write_results("reading_order", payload)
    return payload


def main(argv: list[str] | None = None) -> int:
    return 0 if run(sys.argv[1:] if argv is None else argv)["floor_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
