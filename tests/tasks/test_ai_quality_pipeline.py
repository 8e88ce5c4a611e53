"""The synthetic clinical corpus through the real pipeline: PDFs uploaded, read by the fast
lane, analysed by the AI lane on the session's worker; entities scored per type.

Matching here is by page and text (the pipeline lays text out itself, so character
offsets differ from the corpus's own layout): a found entity matches a gold one of the
same type on the same page when one's text contains the other's (case-insensitive).
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest

from tests.support.api import upload
from tests.support.clinical_corpus import corpus
from tests.support.documents import text_pdf
from tests.support.factories import bearer, make_account, make_profile
from tests.support.pipeline import wait_for_status

pytestmark = [pytest.mark.usefixtures("worker"), pytest.mark.slow]

STRICT = {"medication": 0.90, "lab_result": 0.90, "vital_sign": 0.90}
FLOOR = 0.80
DOCUMENTS = 24


def matched(gold: list, found: list) -> int:
    hits = 0
    remaining = list(found)
    for g_page, g_text in gold:
        for index, (f_page, f_text) in enumerate(remaining):
            if f_page == g_page and (g_text in f_text or f_text in g_text):
                hits += 1
                del remaining[index]
                break
    return hits


def test_corpus_f1_per_entity_type_through_the_pipeline(app) -> None:
    with app.extensions["db"].session() as session:
        account, token = make_account(session)
        profile = make_profile(session, account)
    documents = corpus()[::2][:DOCUMENTS]  # every other one: all kinds of document
    uploads = {}
    for document in documents:
        pdf = text_pdf([list(page) for page in document.pages], font_size=10)
        response = upload(app.test_client(), token, profile.id, pdf, name=f"{document.id}.pdf")
        assert response.status_code == 201
        uploads[document.id] = uuid.UUID(response.json["shell_file_id"])

    true_positive, gold_count, found_count = Counter(), Counter(), Counter()
    for document in documents:
        shell_file = wait_for_status(app, uploads[document.id], timeout=120)
        assert shell_file.status == "completed"
        found = (
            app.test_client()
            .get(f"/api/v1/shell-files/{shell_file.id}/entities", headers=bearer(token))
            .json["items"]
        )
        for kind in {e.type for e in document.entities} | {e["type"] for e in found}:
            gold = [(e.page, e.text.lower()) for e in document.entities if e.type == kind]
            mine = [(e["page"], e["text"].lower()) for e in found if e["type"] == kind]
            true_positive[kind] += matched(gold, mine)
            gold_count[kind] += len(gold)
            found_count[kind] += len(mine)

    scores = {}
    for kind, gold in sorted(gold_count.items()):
        precision = true_positive[kind] / max(1, found_count[kind])
        recall = true_positive[kind] / max(1, gold)
        scores[kind] = (
            gold,
            precision,
            recall,
            2 * precision * recall / max(1e-9, precision + recall),
        )
    print("\ntype, gold, precision, recall, F1")  # shown with -s: the figures for a report
    for kind, (gold, precision, recall, f1) in scores.items():
        print(f"{kind}, {gold}, {precision:.3f}, {recall:.3f}, {f1:.3f}")
    for kind, (_, precision, recall, f1) in scores.items():
        assert f1 >= STRICT.get(kind, FLOOR), (kind, precision, recall)
