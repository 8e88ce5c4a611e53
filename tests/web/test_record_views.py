"""The health record page and the results view: what they show, an SVG trend whose points
link to their pages, the access rule (denied is 404) and the audit row of each."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import AuditLog
from tests.support.processed import process_in_place
from tests.support.samples import text_pdf
from tests.web.conftest import Person, store_document


def lab_report(date: str, hba1c: str) -> bytes:
    return text_pdf([
        "Laboratory report",
        f"Date of report: {date}",
        f"Results: HbA1c {hba1c}",
        "Medications: Metformin 500 mg twice daily",
        "Allergies: penicillin - rash",
        "Past surgical history: appendectomy 2010",
    ])  # fmt: skip


@pytest.fixture
def owner(app: Flask, db_session: Session, make_person) -> Person:
    person = make_person(name="Robin Owner")
    for date, value in (("01/03/2022", "48 mmol/mol (20-41)"), ("01/03/2023", "53 mmol/mol"),
                        ("01/03/2024", "6.8 % (4.0-5.9)")):  # fmt: skip
        shell_file = store_document(app, db_session, person, lab_report(date, value), "lab.pdf")
        process_in_place(app, db_session, shell_file.id)
    return person


def reasons(session: Session, person: Person) -> list[str]:
    return list(
        session.scalars(
            select(AuditLog.reason).where(
                AuditLog.account_id == person.account.id, AuditLog.table_name == "record_entries"
            )
        )
    )


def test_the_health_record_page_lists_medications_allergies_and_recent_results(
    db_session: Session, owner: Person
) -> None:
    page = owner.client.get(f"/profiles/{owner.profile.id}/record")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Current medications" in html and "Metformin" in html.replace("metformin", "Metformin")
    assert "penicillin" in html.lower() and "rash" in html
    assert "HbA1c" in html and "6.8 %" in html and "3 results" in html
    procedures = html[html.index('id="procedures-heading"') :]
    assert "appendicectomy</strong> 2010" in procedures[: procedures.index("</section>")]
    assert reasons(db_session, owner) == ["web: view health record"]


def test_the_results_view_draws_the_hba1c_trend_with_points_linking_to_their_pages(
    db_session: Session, owner: Person
) -> None:
    page = owner.client.get(f"/profiles/{owner.profile.id}/results?code=4548-4")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert 'role="img"' in svg and "<title" in svg
    points = re.findall(r'<a href="(/documents/[0-9a-f-]+#page-1)" class="point-link">', svg)
    assert len(points) == 3 and len(set(points)) == 3
    assert 'class="band"' in svg  # the reference range
    assert "<script" not in html.split("</head>")[1]
    # The dates under the first and last points stay inside the canvas.
    anchors = re.findall(r'<text class="axis" x="[\d.]+" y="[\d.]+" text-anchor="(\w+)">2', svg)
    assert anchors == ["middle", "end"]
    # The table beside it: the same three values, as shown and as printed. Converted
    # values are rounded as the series' own unit was printed (one decimal for %).
    table = html[html.index("<table") : html.index("</table>")]
    assert re.findall(r'<td class="value">([\d.]+)', table) == ["6.5", "7.0", "6.8"]
    assert "48 mmol/mol" in table
    assert reasons(db_session, owner) == ["web: view results"]


def test_a_stranger_gets_404_on_the_record_and_results(make_person, owner: Person) -> None:
    stranger = make_person(name="Sam Stranger")
    for path in ("record", "results"):
        response = stranger.client.get(f"/profiles/{owner.profile.id}/{path}")
        assert response.status_code == 404
        assert "HbA1c" not in response.get_data(as_text=True)


def test_an_empty_profile_has_an_empty_record_page(make_person) -> None:
    person = make_person(name="New Person")
    for path in ("record", "results"):
        response = person.client.get(f"/profiles/{person.profile.id}/{path}")
        assert response.status_code == 200
        assert "No results in" in response.get_data(as_text=True)


def test_converted_values_are_shown_as_values_in_the_series_unit_are_printed() -> None:
    from app.web.charts import trend_chart

    def point(value: float, printed: str, unit: str) -> dict[str, object]:
        source = {"shell_file_id": "x", "places": []}
        return {"value": value, "value_text": printed, "original_unit": unit, "date": "2024-01-01",
                "undated": False, "source": source}  # fmt: skip

    series = {
        "unit": "mmol/mol",
        "reference_low": None,
        "reference_high": None,
        "points": [point(50.819672, "6.8", "%"), point(53.0, "53", "mmol/mol")],
    }
    chart = trend_chart(series)
    assert chart is not None
    assert [chart.shown(p) for p in series["points"]] == ["51", "53"]
    assert chart.points[0].label == "2024-01-01: 51 mmol/mol"
