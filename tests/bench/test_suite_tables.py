"""The benchmark suite's table writer: rows in, markdown and JSON out (no benchmark runs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.harness import Row, row
from bench.scaling import headline_rows
from bench.suite import render_markdown, results_json, write_tables

META = {
    "mode": "quick",
    "finished_at": "2026-11-28T10:00:00+00:00",
    "machine": {"cpus": 2, "cpu_model": "Test CPU", "memory_gib": 4.0},
    "busy_percent_before": 3.0,
    "commit": "0123456789abcdef",
    "benchmarks": [
        {"name": "engine_overhead", "seconds": 1.0, "error": None},
        {"name": "upload_memory", "seconds": 1.0, "error": "SystemExit: Redis is down"},
    ],
}


def rows() -> list[Row]:
    return [
        row(
            "Engine throughput, 6 no-op stages",
            48.0,
            "docs/s",
            "raw Celery chain",
            110.0,
            "python -m bench.engine_overhead",
            floor=">= 0.5x raw",
            met=False,
        ),
        row(
            "AI lane F1, medication",
            0.987,
            "F1",
            "gold annotations",
            None,
            "python -m bench.ai_quality",
        ),
        row(
            "upload_memory: FAILED (SystemExit: Redis is down)",
            None,
            "",
            "",
            None,
            "python -m bench.upload_memory",
        ),
        row("A ratio that is not a number", math.nan, "ms", "a | piped baseline", 2.0, "cmd"),
    ]


def table_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


def test_row_ratio_is_value_over_baseline_unless_given() -> None:
    assert row("f", 48.0, "u", "b", 120.0, "c").ratio == 0.4
    assert row("f", 0.2, "u", "b", 5.0, "c", ratio=0.9).ratio == 0.9
    assert row("f", 1.0, "u", "b", None, "c").ratio is None


def test_markdown_has_one_line_per_row_with_value_baseline_ratio_floor_and_command() -> None:
    lines = table_lines(render_markdown(rows(), META))

    assert len(lines) == 2 + 4  # header, rule, rows
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["figure", "value", "baseline (same run)", "ratio", "floor", "command"]
    engine = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert engine == [
        "Engine throughput, 6 no-op stages",
        "48.0 docs/s",
        "raw Celery chain: 110 docs/s",
        "0.436x",
        ">= 0.5x raw: **NOT met**",
        "`python -m bench.engine_overhead`",
    ]
    f1 = [cell.strip() for cell in lines[3].strip("|").split("|")]
    assert f1[1:5] == ["0.987 F1", "gold annotations", "-", "-"]


def test_markdown_names_the_run_and_the_failures_and_escapes_pipes() -> None:
    markdown = render_markdown(rows(), META)

    assert markdown.startswith("# Benchmark suite, quick run, 2026-11-28T10:00:00+00:00")
    assert "2 CPUs (Test CPU)" in markdown
    assert "Commit 0123456789ab." in markdown
    assert "Failed: upload_memory (SystemExit: Redis is down)" in markdown
    assert "a \\| piped baseline" in markdown
    assert all(line.count("|") - line.count("\\|") == 7 for line in table_lines(markdown))


def test_json_keeps_every_field_and_turns_nan_into_null() -> None:
    body = results_json(rows(), META)

    assert body["mode"] == "quick"
    assert [set(r) for r in body["rows"]] == [
        {
            "figure",
            "value",
            "unit",
            "baseline",
            "baseline_value",
            "ratio",
            "floor",
            "met",
            "command",
        }
    ] * 4
    assert body["rows"][0]["met"] is False
    assert body["rows"][3]["value"] is None
    json.dumps(body, allow_nan=False)  # strict JSON


def test_write_tables_writes_the_run_and_latest(tmp_path: Path) -> None:
    paths = write_tables(rows(), META, tmp_path / "results", "20261128T100000Z")

    assert sorted(p.name for p in paths) == [
        "latest.json",
        "latest.md",
        "suite-20261128T100000Z.json",
        "suite-20261128T100000Z.md",
    ]
    latest = (tmp_path / "results" / "latest.md").read_text()
    assert latest == (tmp_path / "results" / "suite-20261128T100000Z.md").read_text()
    assert (
        json.loads((tmp_path / "results" / "latest.json").read_text())["rows"][0]["value"] == 48.0
    )


def test_scaling_rows_compare_each_setting_with_the_first() -> None:
    settings = [
        {"processes_per_lane": 1, "docs_per_s": 4.0, "cpu_s_per_doc_total": 0.10},
        {"processes_per_lane": 2, "docs_per_s": 6.0, "cpu_s_per_doc_total": 0.12},
    ]

    throughput, cpu = headline_rows(settings, "8 x 2-page born-digital PDFs")

    assert (throughput.value, throughput.baseline_value, throughput.ratio) == (6.0, 4.0, 1.5)
    assert "1 process per lane" in throughput.baseline
    assert cpu.unit == "ms/doc"
    assert math.isclose(cpu.ratio or 0.0, 1.2)
