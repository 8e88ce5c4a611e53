"""The health record at scale: a profile of 1,000 documents and ~20,000 records.

Figures (each against a baseline in the same run, same database, same process):

- `GET /record` p50/p95 (the API in-process: token check, access rule, audit row
  committed, JSON), against a plain SELECT of the profile's `clinical_records` rows;
- a series, `GET /record/observations?code=`, against a plain SELECT of that test's rows;
- the merge of one new document (`refresh_document`: its mentions saved and folded into the
  entries it touches, committed), against Pass 2's own save of the same records, and
  against rebuilding those same entries from all their mentions (what the merge did
  before entries kept a state; rolled back). Each fold is checked against that rebuild:
  the two must give the same entries;
- taking one document out (`remove_document`, as an archive does: the entries it was
  part of rebuilt from their remaining mentions), and making a stale record again from
  its documents' records (`rebuild_profile`), for reference;
- for the design's sake, merging the whole record on read (every record and entity
  loaded, `merge_record`), which the tables spare each read.

Documents are generated (no text, no pipeline): each has a date (one in ten undated),
12 lab results out of the lexicon's tests in either of their units, 3 vital signs, 3
medications, a condition and an allergy, each citing an entity with a page and box.
"""

from __future__ import annotations

import gc
import random
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from bench import harness

TARGET_RECORD_P95_MS, TARGET_SERIES_P95_MS, TARGET_MERGE_MS = 300.0, 100.0, 200.0
MEDICINES = [
    ("metformin", "6809"),
    ("atorvastatin", "83367"),
    ("lisinopril", "29046"),
    ("amlodipine", "17767"),
    ("levothyroxine", "10582"),
    ("omeprazole", "7646"),
    ("salbutamol", "435"),
    ("sertraline", "36437"),
]


def _lab_tests() -> list[tuple[str, list[Any]]]:
    from app.pipeline.ai.lexicon import default_lexicon

    return [(c.name, list(c.units)) for c in default_lexicon().concepts.values() if c.kind == "lab"]


def make_records(rng: random.Random, tests: list[tuple[str, list[Any]]]) -> Any:
    from app.pipeline.ai import types as ai

    labs = []
    for index, (name, units) in enumerate(rng.sample(tests, 12), start=1):
        unit = rng.choice(units)
        mid = ((unit.low or 1.0) + (unit.high or (unit.low or 1.0) * 2)) / 2
        value = round(mid * rng.uniform(0.7, 1.4), 2)
        review = rng.random() < 0.03
        labs.append(
            ai.LabResult(
                f"l{index}",
                (f"e{index}",),
                name,
                value,
                f"{value:g}",
                unit.unit,
                unit.low,
                unit.high,
                None,
                unit.loinc,
                needs_review=review,
            )
        )
    vitals = (
        ai.Vital(
            "v1",
            ("e13",),
            "blood_pressure",
            None,
            "mm[Hg]",
            rng.randint(105, 160),
            rng.randint(60, 100),
        ),
        ai.Vital("v2", ("e14",), "heart_rate", rng.randint(55, 110), "/min"),
        ai.Vital("v3", ("e15",), "weight", round(rng.uniform(60, 90), 1), "kg"),
    )
    medications = tuple(
        ai.Medication(
            f"m{i}",
            (f"e{15 + i}",),
            name,
            rng.choice([5.0, 10.0, 20.0, 500.0]),
            "mg",
            frequency="once daily",
            rxnorm=code,
        )
        for i, (name, code) in enumerate(rng.sample(MEDICINES, 3), start=1)
    )
    conditions = (
        ai.Condition("c1", ("e19",), rng.choice(["hypertension", "asthma", "gout"]), "active"),
    )
    allergies = (ai.Allergy("a1", ("e20",), rng.choice(["penicillin", "latex"]), "rash"),)
    return labs, vitals, medications, conditions, allergies


def make_document(
    session: Any,
    profile_id: uuid.UUID,
    number: int,
    rng: random.Random,
    tests: list[tuple[str, list[Any]]],
) -> Any:
    """One completed shell file with its records and their entities, saved as Pass 2 would."""
    from app.outputs import ai_lane
    from app.pipeline.ai import types as ai
    from tests.support.factories import make_shell_file

    uploaded = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=number * 2)
    shell_file = make_shell_file(session, profile_id, None, status="completed", created_at=uploaded)
    labs, vitals, medications, conditions, allergies = make_records(rng, tests)
    date = None if number % 10 == 9 else (uploaded - timedelta(days=3)).date().isoformat()
    records = ai.ClinicalRecords(
        document_date=date,
        lab_results=tuple(labs),
        vitals=vitals,
        medications=medications,
        conditions=conditions,
        allergies=allergies,
    )
    entities = [
        ai.Entity(
            f"e{i}",
            "lab_result",
            "x",
            i,
            i + 1,
            1 + i % 2,
            (0.1, 0.02 * i, 0.5, 0.02 * i + 0.015),
            0.95,
        )
        for i in range(1, 21)
    ]
    ai_lane.save_entities(session, shell_file, entities)
    ai_lane.save_records(session, shell_file, records)
    return shell_file


def document_rows(
    profile_id: uuid.UUID, number: int, rng: random.Random, tests: list[tuple[str, list[Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """The rows of one completed document, its records, entities and mentions: what Pass 2
    and the record stage would have saved (written in bulk, to build the profile fast)."""
    from app.outputs import ai_lane
    from app.pipeline.ai import types as ai
    from app.pipeline.record.mentions import DocumentInfo, document_mentions, mention_to_json

    shell_file_id = uuid.uuid4()
    uploaded = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=number * 2)
    labs, vitals, medications, conditions, allergies = make_records(rng, tests)
    date = None if number % 10 == 9 else (uploaded - timedelta(days=3)).date().isoformat()
    records = ai.ClinicalRecords(
        document_date=date,
        lab_results=tuple(labs),
        vitals=vitals,
        medications=medications,
        conditions=conditions,
        allergies=allergies,
    )
    entities = [
        ai.Entity(
            f"e{i}",
            "lab_result",
            "x",
            i,
            i + 1,
            1 + i % 2,
            (0.1, 0.02 * i, 0.5, 0.02 * i + 0.015),
            0.95,
        )
        for i in range(1, 21)
    ]
    mentions = document_mentions(
        DocumentInfo(str(shell_file_id), uploaded.isoformat(), date), records, entities
    )
    owner = {"shell_file_id": shell_file_id, "patient_id": profile_id}
    return {
        "shell_files": [
            {
                "id": shell_file_id,
                "patient_id": profile_id,
                "uploaded_by": None,
                "original_filename": f"r{number}.pdf",
                "mime_type": "application/pdf",
                "file_size_bytes": 1,
                "sha256": uuid.uuid4().hex + uuid.uuid4().hex,
                "storage_key": "db:none",
                "processing_priority": 5,
                "status": "completed",
                "created_at": uploaded,
            }
        ],
        "clinical_documents": [
            {
                "shell_file_id": shell_file_id,
                "document_kind": "lab_report",
                "document_date": date,
                "service_dates": {"dates": []},
            }
        ],
        "clinical_records": [
            owner
            | {
                "id": uuid.uuid4(),
                "record_key": r.id,
                "record_type": _type_of(r),
                "display": ai_lane._display(r),
                "code_system": ai_lane._code(r)[0],
                "code": ai_lane._code(r)[1],
                "data": ai.to_json(r),
                "entity_keys": {"entities": list(r.entity_ids)},
            }
            for r in records.all_records()
        ],
        "clinical_entities": [
            owner
            | {
                "id": uuid.uuid4(),
                "entity_key": e.id,
                "entity_type": e.type,
                "text": e.text,
                "start_offset": e.start,
                "end_offset": e.end,
                "page": e.page,
                "box": {"box": list(e.box or ())},
                "confidence": e.confidence,
                "negated": False,
                "historical": False,
                "family": False,
                "hypothetical": False,
            }
            for e in entities
        ],
        "record_mentions": [
            owner
            | {
                "id": uuid.uuid4(),
                "section": m.section,
                "merge_key": m.key,
                "data": mention_to_json(m),
            }
            for m in mentions
        ],
    }


def _type_of(record: Any) -> str:
    from app.outputs.ai_lane import RECORD_TYPES

    return next(name for name, cls in RECORD_TYPES.items() if isinstance(record, cls))


def build_profile(app: Any, documents: int) -> tuple[str, uuid.UUID, list[uuid.UUID]]:
    """A profile of `documents` generated documents, merged once into its record."""
    from sqlalchemy import insert

    from app.models import Base
    from app.outputs import record
    from tests.support.factories import make_account, make_profile

    rng, tests = random.Random(13), _lab_tests()
    db = app.extensions["db"]
    with db.session() as session:
        account, token = make_account(session)
        profile = make_profile(session, account)
        rows: dict[str, list[dict[str, Any]]] = {}
        for number in range(documents):
            for table, found in document_rows(profile.id, number, rng, tests).items():
                rows.setdefault(table, []).extend(found)
        connection = session.connection()
        for table, found in rows.items():
            for start in range(0, len(found), 2000):
                connection.execute(insert(Base.metadata.tables[table]), found[start : start + 2000])
        keys = {(row["section"], row["merge_key"]) for row in rows["record_mentions"]}
        record.rebuild(session, profile.id, keys)
    return token, profile.id, [row["id"] for row in rows["shell_files"]]


REBUILD_ROUNDS = 10


def rebuild_checked(db: Any, profile_id: uuid.UUID, shell_file_id: uuid.UUID) -> float:
    """Rebuild the entries a document touches from all their mentions (rolled back), and
    check the fold gave the same; returns the rebuild's time in ms."""
    from sqlalchemy import select

    from app.models import RecordEntry, RecordMention
    from app.outputs import record

    def summaries(session: Any, keys: set[tuple[str, str]]) -> dict[tuple[str, str], Any]:
        rows = session.execute(
            select(RecordEntry.section, RecordEntry.merge_key, RecordEntry.summary).where(
                RecordEntry.patient_id == profile_id
            )
        )
        return {(s, k): summary for s, k, summary in rows if (s, k) in keys}

    with db.sessionmaker() as session, session.begin():
        keys = {
            (section, key)
            for section, key in session.execute(
                select(RecordMention.section, RecordMention.merge_key).where(
                    RecordMention.shell_file_id == shell_file_id
                )
            )
        }
        folded = summaries(session, keys)
        started = time.perf_counter()
        record.rebuild(session, profile_id, keys)
        session.flush()
        took = (time.perf_counter() - started) * 1000
        if summaries(session, keys) != folded:
            raise AssertionError("the fold and the rebuild disagree")
        session.rollback()
    return took


def timed(call: Callable[[], Any], rounds: int) -> list[float]:
    call()  # warm
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def run(argv: Sequence[str] = ()) -> dict[str, Any]:
    parser = harness.parser(__doc__)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--no-on-read", action="store_true", help="skip the merge-on-read figure")
    args = parser.parse_args(argv)
    harness.begin(args)
    with harness.bench_env("health_record", keep=args.keep_db) as env:
        env.apply_to_this_process()
        return measure(env, args.documents, args.rounds, on_read=not args.no_on_read)


def measure(  # noqa: PLR0915
    env: Any, documents: int, rounds: int, *, on_read: bool = True
) -> dict[str, Any]:
    from sqlalchemy import func, select, text

    from app import create_app
    from app.models import ClinicalRecord, RecordEntry, RecordMention, ShellFile
    from app.outputs import ai_lane, record
    from app.pipeline.record.mentions import document_mentions
    from app.pipeline.record.merge import merge_record
    from tests.support.factories import bearer

    app = create_app()
    started = time.perf_counter()
    token, profile_id, ids = build_profile(app, documents)
    harness.log(
        f"{documents} documents generated and merged in {time.perf_counter() - started:.1f} s"
    )
    db = app.extensions["db"]
    with db.session() as session:
        counts = {
            "records": session.scalar(
                select(func.count())
                .select_from(ClinicalRecord)
                .where(ClinicalRecord.patient_id == profile_id)
            ),
            "mentions": session.scalar(
                select(func.count())
                .select_from(RecordMention)
                .where(RecordMention.patient_id == profile_id)
            ),
            "entries": session.scalar(
                select(func.count())
                .select_from(RecordEntry)
                .where(RecordEntry.patient_id == profile_id)
            ),
        }
        session.execute(text("ANALYZE"))
    harness.log(f"counts: {counts}")
    # What the web and ai workers do once they have loaded (app/ops/gunicorn_conf.py,
    # tasks/ai.py): freeze what is loaded out of the collector's sight, so that no full
    # collection of this process's heap lands in a measured read or merge.
    gc.collect()
    gc.freeze()
    client = app.test_client()
    headers = bearer(token)

    def get(path: str) -> None:
        response = client.get(f"/api/v1/profiles/{profile_id}{path}", headers=headers)
        assert response.status_code == 200, response.status_code

    def plain_select(where: Any = None) -> Callable[[], None]:
        def call() -> None:
            with db.engine.connect() as connection:
                query = select(ClinicalRecord.data).where(ClinicalRecord.patient_id == profile_id)
                if where is not None:
                    query = query.where(where)
                connection.execute(query).all()

        return call

    figures: dict[str, Any] = {"counts": counts}
    figures["record"] = timed(lambda: get("/record"), rounds)
    figures["record_baseline"] = timed(plain_select(), rounds)
    figures["series"] = timed(lambda: get("/record/observations?code=59261-8"), rounds)
    hba1c = ClinicalRecord.code.in_(("59261-8", "4548-4"))
    figures["series_baseline"] = timed(plain_select(hba1c), rounds)
    figures["series_bp"] = timed(lambda: get("/record/observations?code=8480-6"), rounds)
    figures["series_bp_baseline"] = timed(plain_select(ClinicalRecord.code == "85354-9"), rounds)

    rng, tests = random.Random(99), _lab_tests()
    merges, saves, rebuilds = [], [], []
    started = time.perf_counter()  # the profile was built by hand: its rules are unset
    with db.session() as session:
        record.rebuild_profile(session, profile_id)
    figures["rebuild_profile"] = [(time.perf_counter() - started) * 1000]
    with db.session() as session:  # a worker has merged before: pint's registry is loaded
        warm = make_document(session, profile_id, documents + rounds, rng, tests)
        record.refresh_document(session, warm)
    for number in range(documents, documents + rounds):
        with db.session() as session:
            shell_file = make_document(session, profile_id, number, rng, tests)
            session.flush()
            records = ai_lane.load_records(session, shell_file.id)
            started = time.perf_counter()
            ai_lane.save_records(session, shell_file, records)
            session.flush()
            saves.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        with db.session() as session:
            record.refresh_document(session, session.get(ShellFile, shell_file.id))
        merges.append((time.perf_counter() - started) * 1000)
        if len(rebuilds) < REBUILD_ROUNDS:
            rebuilds.append(rebuild_checked(db, profile_id, shell_file.id))
    figures["merge"], figures["merge_baseline"] = merges, saves
    figures["merge_rebuild"] = rebuilds
    figures["leave"] = []
    for shell_file_id in ids[: min(rounds, REBUILD_ROUNDS)]:
        started = time.perf_counter()
        with db.session() as session:
            record.remove_document(session, session.get(ShellFile, shell_file_id))
        figures["leave"].append((time.perf_counter() - started) * 1000)

    def merge_on_read() -> None:
        with db.session() as session:
            mentions = []
            for shell_file_id in ids:
                shell_file = session.get(ShellFile, shell_file_id)
                mentions += document_mentions(
                    record.document_info(session, shell_file),
                    ai_lane.load_records(session, shell_file_id),
                    ai_lane.load_entities(session, shell_file_id),
                )
            merge_record(mentions)

    figures["on_read"] = timed(merge_on_read, 1) if on_read else [float("nan")]
    return report(figures, documents)


def report(figures: dict[str, Any], documents: int) -> dict[str, Any]:
    p = harness.percentile
    rows = [
        (
            "GET /record p95",
            p(figures["record"], 95),
            "plain SELECT of the profile's records",
            p(figures["record_baseline"], 95),
            TARGET_RECORD_P95_MS,
        ),
        (
            "GET /record p50",
            p(figures["record"], 50),
            "plain SELECT of the profile's records",
            p(figures["record_baseline"], 50),
            None,
        ),
        (
            "GET /record/observations (HbA1c) p95",
            p(figures["series"], 95),
            "plain SELECT of the test's records",
            p(figures["series_baseline"], 95),
            TARGET_SERIES_P95_MS,
        ),
        (
            "GET /record/observations (systolic BP, a result per document) p95",
            p(figures["series_bp"], 95),
            "plain SELECT of the test's records",
            p(figures["series_bp_baseline"], 95),
            TARGET_SERIES_P95_MS,
        ),
        (
            "merge of one new document p95",
            p(figures["merge"], 95),
            "Pass 2's save of its records",
            p(figures["merge_baseline"], 95),
            TARGET_MERGE_MS,
        ),
        (
            "merge of one new document p95",
            p(figures["merge"], 95),
            "the same entries rebuilt from all their mentions",
            p(figures["merge_rebuild"], 95),
            None,
        ),
        (
            "take one document out (archive) p95",
            p(figures["leave"], 95),
            "merge of one new document p95",
            p(figures["merge"], 95),
            None,
        ),
        (
            "a stale record made again from its documents' records (once)",
            figures["rebuild_profile"][-1],
            "merge of one new document p95",
            p(figures["merge"], 95),
            None,
        ),
        (
            "merge of one new document p50",
            p(figures["merge"], 50),
            "Pass 2's save of its records",
            p(figures["merge_baseline"], 50),
            None,
        ),
        (
            "whole record merged on read (no tables)",
            figures["on_read"][-1],
            "GET /record p95",
            p(figures["record"], 95),
            None,
        ),
    ]
    print(f"## Health record, {documents} documents, {figures['counts']}\n")
    print(
        harness.markdown_table(
            ("figure", "ms", "baseline (same run)", "baseline ms", "ratio", "target"),
            [
                (
                    name,
                    f"{value:.1f}",
                    base_name,
                    f"{base:.1f}",
                    f"{value / base:.2f}x",
                    "-"
                    if target is None
                    else f"<= {target:.0f} ms: {'met' if value <= target else 'NOT met'}",
                )
                for name, value, base_name, base, target in rows
            ],
        )
    )
    payload = {"figures": figures, "rows": [list(r) for r in rows]}
    payload["targets_met"] = all(value <= t for _, value, _, _, t in rows if t is not None)
    harness.write_results("health_record", payload)
    return payload


if __name__ == "__main__":
    harness.main(run, ok="targets_met")
