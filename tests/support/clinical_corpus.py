"""A synthetic clinical corpus with known answers, for the AI lane's tests and benchmarks.

`corpus(seed)` makes 50 documents, ten of each kind (lab reports, vital signs
records, medication lists, discharge summaries, clinic letters), from a seeded RNG:
names, values, dates, phrasings, section order and layout all vary, so no two
documents share a template line for line. Each document gives

- its text, as lines on one or two pages (an empty line is vertical space);
- its gold entities: type, exact text, where it starts (page, line, column) and
  the negated / historical / family / hypothetical flags;
- its gold records (medicines, results, vital signs, conditions, allergies,
  immunisations, procedures) with the fields a reader would take from it;
- its kind and document date.

Everything is invented: names, numbers and hospitals are made up.

Entity definitions follow the provider's (see app/pipeline/ai/types.py): a
medicine's, result's or reading's span takes in its values; an allergy's takes in
its reaction; symptoms are `observation`, examination findings `physical_finding`.

`document_text(doc)` lays a document out as the fast lane would (`PageLayout`
lines with normalised word boxes) and returns its `DocumentText`. `save`/`load`
write and read the corpus as JSON files, one per document:

    {"id": "lab-01", "kind": "lab_report", "document_date": "2024-03-12",
     "pages": [["line", "", "line"], ["line"]],
     "entities": [{"type": "lab_result", "text": "Potassium 5.9 mmol/L H",
                   "page": 1, "line": 7, "column": 0, "negated": false,
                   "historical": false, "family": false, "hypothetical": false}],
     "records": {"lab_results": [{"test": "potassium", "value": 5.9,
                                  "unit": "mmol/L", "abnormal_flag": "H"}]}}

`line` counts the page's lines from 0, empty lines included; "records" may be
left out. Two optional keys serve hand-written sets (tests/support/devset.py):
"style" (US, UK, AU, abstract) and "scored_types", the entity types the gold
annotates; a prediction of any other type is then not scored. The scoring
functions at the end are the ones the tests and bench/ai_quality.py use.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from app.pipeline.layout import DocumentText, Line, PageLayout
from app.pipeline.layout import document_text as join_pages

FLAGS = ("negated", "historical", "family", "hypothetical")
RECORD_KINDS = (
    "medications",
    "lab_results",
    "vitals",
    "conditions",
    "allergies",
    "immunizations",
    "procedures",
)


# ---------------------------------------------------------------- documents


@dataclass(frozen=True)
class GoldEntity:
    type: str
    text: str
    page: int
    line: int
    column: int
    negated: bool = False
    historical: bool = False
    family: bool = False
    hypothetical: bool = False


@dataclass(frozen=True)
class CorpusDocument:
    id: str
    kind: str
    document_date: str | None
    pages: tuple[tuple[str, ...], ...]
    entities: tuple[GoldEntity, ...]
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # The house style (US, UK, AU, abstract) of a hand-written document, for per-style
    # figures; None for generated ones.
    style: str | None = None
    # The entity types the gold annotates; predictions of other types are not scored.
    # None: every type is annotated (the generated corpus).
    scored_types: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "kind": self.kind,
            "document_date": self.document_date,
            "pages": [list(page) for page in self.pages],
            "entities": [asdict(entity) for entity in self.entities],
            "records": self.records,
        }
        if self.style is not None:
            data["style"] = self.style
        if self.scored_types is not None:
            data["scored_types"] = list(self.scored_types)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CorpusDocument:
        return cls(
            id=str(data["id"]),
            kind=str(data.get("kind", "other")),
            document_date=data.get("document_date"),
            pages=tuple(tuple(page) for page in data["pages"]),
            entities=tuple(GoldEntity(**entity) for entity in data.get("entities", [])),
            records={k: list(v) for k, v in (data.get("records") or {}).items()},
            style=data.get("style"),
            scored_types=(
                tuple(data["scored_types"]) if data.get("scored_types") is not None else None
            ),
        )


@dataclass(frozen=True)
class M:
    """A mention inside a line or paragraph: its text, entity type and flags."""

    text: str
    type: str
    negated: bool = False
    historical: bool = False
    family: bool = False
    hypothetical: bool = False


Part = str | M


class Writer:
    """Builds a document line by line, keeping where each mention lands."""

    def __init__(self, doc_id: str, kind: str) -> None:
        self.id, self.kind = doc_id, kind
        self.pages: list[list[str]] = [[]]
        self.entities: list[GoldEntity] = []
        self.records: dict[str, list[dict[str, Any]]] = {k: [] for k in RECORD_KINDS}
        self.document_date: str | None = None

    def gap(self) -> None:
        if self.pages[-1] and self.pages[-1][-1] != "":
            self.pages[-1].append("")

    def page_break(self) -> None:
        while self.pages[-1] and self.pages[-1][-1] == "":
            self.pages[-1].pop()
        self.pages.append([])

    def line(self, *parts: Part) -> None:
        text, mentions = _assemble(parts)
        self._add_line(text, mentions)

    def para(self, *parts: Part, width: int = 90) -> None:
        """A paragraph wrapped at `width` characters; a mention may wrap across lines."""
        text, mentions = _assemble(parts)
        lines, start = [], 0
        words = text.split(" ")
        current: list[str] = []
        for word in words:
            if current and len(" ".join([*current, word])) > width:
                lines.append((start, " ".join(current)))
                start += len(lines[-1][1]) + 1
                current = []
            current.append(word)
        lines.append((start, " ".join(current)))
        for line_start, line_text in lines:
            inside = [
                (offset - line_start, mention)
                for offset, mention in mentions
                if line_start <= offset < line_start + len(line_text) + 1
            ]
            self._add_line(line_text, inside)

    def _add_line(self, text: str, mentions: list[tuple[int, M]]) -> None:
        assert text == text.strip() and "  " not in text and text, repr(text)
        page, number = len(self.pages), len(self.pages[-1])
        self.pages[-1].append(text)
        for column, mention in mentions:
            flags = {name: getattr(mention, name) for name in FLAGS}
            self.entities.append(
                GoldEntity(mention.type, mention.text, page, number, column, **flags)
            )

    def record(self, kind: str, **fields: Any) -> None:
        self.records[kind].append(fields)

    def build(self) -> CorpusDocument:
        while self.pages[-1] and self.pages[-1][-1] == "":
            self.pages[-1].pop()
        records = {k: v for k, v in self.records.items() if v}
        return CorpusDocument(
            self.id,
            self.kind,
            self.document_date,
            tuple(tuple(page) for page in self.pages if page),
            tuple(self.entities),
            records,
        )


def _assemble(parts: Sequence[Part]) -> tuple[str, list[tuple[int, M]]]:
    text, mentions = "", []
    for part in parts:
        if isinstance(part, M):
            mentions.append((len(text), part))
            text += part.text
        else:
            text += part
    return text, mentions


# ---------------------------------------------------------------- layout

PAGE_WIDTH, PAGE_HEIGHT = 595.0, 842.0
LEFT, TOP, LINE_STEP, CHAR_WIDTH = 0.08, 0.05, 0.016, 0.0085


def layouts(doc: CorpusDocument) -> list[PageLayout]:
    """The document's pages as spatial mapping would lay them out (boxes normalised)."""
    pages = []
    for number, raw in enumerate(doc.pages, start=1):
        lines = []
        for index, text in enumerate(raw):
            if not text:
                continue
            y0 = round(TOP + index * LINE_STEP, 5)
            y1 = round(y0 + LINE_STEP * 0.7, 5)
            words, column = [], 0
            for word in text.split(" "):
                x0 = round(LEFT + column * CHAR_WIDTH, 5)
                x1 = round(x0 + len(word) * CHAR_WIDTH, 5)
                words.append((word, x0, y0, x1, y1, 96.0 + (len(word) % 4)))
                column += len(word) + 1
            box = (words[0][1], y0, words[-1][3], y1)
            lines.append(Line(text, box, tuple(words), len(lines)))
        pages.append(PageLayout(number, PAGE_WIDTH, PAGE_HEIGHT, tuple(lines), ()))
    return pages


def document_text(doc: CorpusDocument) -> DocumentText:
    """The document as the AI lane receives it."""
    return join_pages(layouts(doc))


def gold_spans(doc: CorpusDocument, text: DocumentText) -> list[tuple[int, int, GoldEntity]]:
    """Each gold entity's [start, end) in `text`. Raises AssertionError if one does not
    match the text (a corpus file whose offsets are wrong)."""
    starts: dict[tuple[int, int], int] = {}
    for page_number, raw in enumerate(doc.pages, start=1):
        kept = [index for index, line in enumerate(raw) if line]
        page_lines = [line for line in text.lines if line.page == page_number]
        for raw_index, line in zip(kept, page_lines, strict=True):
            starts[(page_number, raw_index)] = line.start
    spans = []
    for entity in doc.entities:
        start = starts[(entity.page, entity.line)] + entity.column
        end = start + len(entity.text)
        found = " ".join(text.text[start:end].split())
        assert found == " ".join(entity.text.split()), (doc.id, entity, found)
        spans.append((start, end, entity))
    return spans


def save(documents: Iterable[CorpusDocument], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for doc in documents:
        path = folder / f"{doc.id}.json"
        path.write_text(json.dumps(doc.to_json(), indent=1, ensure_ascii=False), "utf-8")
        paths.append(path)
    return paths


def load(folder: Path) -> list[CorpusDocument]:
    """Every *.json corpus file in `folder`, by name."""
    return [
        CorpusDocument.from_json(json.loads(path.read_text("utf-8")))
        for path in sorted(folder.glob("*.json"))
    ]


# ---------------------------------------------------------------- vocabulary

PATIENTS = (
    ("Margaret Hill", "she"),
    ("John Carter", "he"),
    ("Aisha Khan", "she"),
    ("Peter Novak", "he"),
    ("Grace Okafor", "she"),
    ("David Evans", "he"),
    ("Susan Clarke", "she"),
    ("Tom Reilly", "he"),
    ("Mei Chen", "she"),
    ("Robert Singh", "he"),
    ("Fatima Rahman", "she"),
    ("George Walsh", "he"),
)
DOCTORS = ("Dr A Patel", "Dr S Morgan", "Dr R Lewis", "Dr J Wright", "Dr H Ahmed", "Dr C Byrne")
HOSPITALS = (
    "St Mary's Hospital",
    "Riverside General Hospital",
    "Northfield Infirmary",
    "Kingsway University Hospital",
)
PRACTICES = ("Leeds Road Surgery", "Northfield Medical Centre", "Parkside Health Centre")
WARDS = ("Elm Ward", "Oak Ward", "Ward 7B", "Beech Unit")

# Medicines: display name, canonical name, strengths, unit as written, UCUM unit.
MEDICINES = (
    ("Metformin", "metformin", (500, 850, 1000), "mg", "mg"),
    ("Atorvastatin", "atorvastatin", (10, 20, 40, 80), "mg", "mg"),
    ("Simvastatin", "simvastatin", (20, 40), "mg", "mg"),
    ("Ramipril", "ramipril", (1.25, 2.5, 5, 10), "mg", "mg"),
    ("Amlodipine", "amlodipine", (5, 10), "mg", "mg"),
    ("Bisoprolol", "bisoprolol", (1.25, 2.5, 5), "mg", "mg"),
    ("Lansoprazole", "lansoprazole", (15, 30), "mg", "mg"),
    ("Omeprazole", "omeprazole", (20, 40), "mg", "mg"),
    ("Levothyroxine", "levothyroxine", (25, 50, 100), "micrograms", "ug"),
    ("Apixaban", "apixaban", (2.5, 5), "mg", "mg"),
    ("Furosemide", "furosemide", (20, 40), "mg", "mg"),
    ("Sertraline", "sertraline", (50, 100), "mg", "mg"),
    ("Amitriptyline", "amitriptyline", (10, 25), "mg", "mg"),
    ("Aspirin", "aspirin", (75,), "mg", "mg"),
    ("Clopidogrel", "clopidogrel", (75,), "mg", "mg"),
    ("Gabapentin", "gabapentin", (300,), "mg", "mg"),
    ("Lisinopril", "lisinopril", (10, 20), "mg", "mg"),
    ("Losartan", "losartan", (25, 50), "mg", "mg"),
    ("Gliclazide", "gliclazide", (40, 80), "mg", "mg"),
    ("Allopurinol", "allopurinol", (100, 300), "mg", "mg"),
    ("Citalopram", "citalopram", (10, 20), "mg", "mg"),
    ("Folic acid", "folic acid", (5,), "mg", "mg"),
    ("Doxycycline", "doxycycline", (100,), "mg", "mg"),
    ("Prednisolone", "prednisolone", (5, 30), "mg", "mg"),
    ("Tamsulosin", "tamsulosin", (400,), "micrograms", "ug"),
)
ACUTE = (
    ("Amoxicillin", "amoxicillin", (250, 500), "mg", "mg"),
    ("Clarithromycin", "clarithromycin", (250, 500), "mg", "mg"),
    ("Nitrofurantoin", "nitrofurantoin", (50, 100), "mg", "mg"),
    ("Flucloxacillin", "flucloxacillin", (500,), "mg", "mg"),
)
FREQUENCIES = {
    "once daily": ("once daily", "once a day", "OD", "daily", "every day", "o.d."),
    "twice daily": ("twice daily", "twice a day", "BD", "bd", "two times a day", "b.d."),
    "three times daily": ("three times daily", "three times a day", "TDS", "tds", "8 hourly"),
    "four times daily": ("four times daily", "four times a day", "QDS", "6 hourly"),
    "at night": ("at night", "ON", "nocte", "once daily at night", "nightly"),
    "in the morning": ("in the morning", "each morning", "OM", "mane"),
}
# Plain words for the GP-system style "one to be taken twice a day".
SPOKEN = {
    "once daily": "once a day",
    "twice daily": "twice a day",
    "three times daily": "three times a day",
    "four times daily": "four times a day",
    "at night": "at night",
    "in the morning": "each morning",
}
# Medicines the lexicon does not list: the rules cannot find them.
UNLISTED = (
    ("Mebeverine", "mebeverine", (135,), "mg", "mg"),
    ("Ezetimibe", "ezetimibe", (10,), "mg", "mg"),
    ("Bumetanide", "bumetanide", (1,), "mg", "mg"),
    ("Solifenacin", "solifenacin", (5,), "mg", "mg"),
)
ROUTES = {"oral": ("PO", "orally", "by mouth", "oral", "p.o.")}

# Tests: names as written, canonical, units as written -> UCUM, low, high, decimals.
LABS = (
    (("Haemoglobin", "Hb", "Hemoglobin"), "haemoglobin", (("g/L", "g/L"),), 130, 170, 0),
    (
        ("White cell count", "WCC", "WBC"),
        "white cell count",
        (("x10^9/L", "10*9/L"), ("x10*9/L", "10*9/L"), ("10^9/L", "10*9/L")),
        4.0,
        11.0,
        1,
    ),
    (("Platelets", "Platelet count", "PLT"), "platelets", (("x10^9/L", "10*9/L"),), 150, 400, 0),
    (("Sodium", "Na"), "sodium", (("mmol/L", "mmol/L"),), 135, 145, 0),
    (
        ("Potassium", "K", "K+"),
        "potassium",
        (("mmol/L", "mmol/L"), ("mmol/l", "mmol/L")),
        3.5,
        5.3,
        1,
    ),
    (("Urea",), "urea", (("mmol/L", "mmol/L"),), 2.5, 7.8, 1),
    (
        ("Creatinine",),
        "creatinine",
        (("umol/L", "umol/L"), ("\u00b5mol/L", "umol/L"), ("micromol/L", "umol/L")),
        59,
        104,
        0,
    ),
    (("HbA1c",), "HbA1c", (("mmol/mol", "mmol/mol"),), 20, 41, 0),
    (("ALT", "Alanine aminotransferase"), "ALT", (("U/L", "U/L"), ("IU/L", "U/L")), 0, 40, 0),
    (("Bilirubin", "Total bilirubin"), "bilirubin", (("umol/L", "umol/L"),), 0, 21, 0),
    (("Albumin",), "albumin", (("g/L", "g/L"),), 35, 50, 0),
    (("TSH",), "TSH", (("mU/L", "m[IU]/L"), ("mIU/L", "m[IU]/L")), 0.27, 4.2, 2),
    (("Free T4", "FT4"), "free T4", (("pmol/L", "pmol/L"),), 12, 22, 1),
    (("Ferritin",), "ferritin", (("ug/L", "ug/L"), ("\u00b5g/L", "ug/L")), 30, 400, 0),
    (("Glucose", "Fasting glucose"), "glucose", (("mmol/L", "mmol/L"),), 3.9, 5.5, 1),
    (("Calcium", "Adjusted calcium"), "calcium", (("mmol/L", "mmol/L"),), 2.2, 2.6, 2),
    (("Vitamin B12", "B12"), "vitamin B12", (("ng/L", "ng/L"),), 197, 771, 0),
)
# Tests whose range is printed as a bound: name, canonical, unit, UCUM, op, bound, decimals.
BOUNDED = (
    (("CRP", "C-reactive protein"), "CRP", "mg/L", "mg/L", "<", 5, 0),
    (("Total cholesterol", "Cholesterol"), "total cholesterol", "mmol/L", "mmol/L", "<", 5.0, 1),
    (("eGFR",), "eGFR", "mL/min/1.73m2", "mL/min/{1.73_m2}", ">", 90, 0),
)
PANELS = (
    ("Full blood count", ("haemoglobin", "white cell count", "platelets")),
    ("Urea and electrolytes", ("sodium", "potassium", "urea", "creatinine", "eGFR")),
    ("Liver function tests", ("ALT", "bilirubin", "albumin")),
    ("Thyroid function tests", ("TSH", "free T4")),
    ("Lipid profile", ("total cholesterol",)),
    ("Diabetes monitoring", ("HbA1c", "glucose")),
    ("Haematinics", ("ferritin", "vitamin B12")),
    ("Inflammatory markers", ("CRP",)),
    ("Bone profile", ("calcium", "albumin")),
)
CONDITIONS = (
    (("hypertension", "high blood pressure"), "hypertension"),
    (("type 2 diabetes", "type 2 diabetes mellitus", "T2DM"), "type 2 diabetes mellitus"),
    (("asthma",), "asthma"),
    (("COPD", "chronic obstructive pulmonary disease"), "chronic obstructive pulmonary disease"),
    (("atrial fibrillation", "AF"), "atrial fibrillation"),
    (("heart failure",), "heart failure"),
    (("angina",), "angina"),
    (("hypothyroidism",), "hypothyroidism"),
    (("depression",), "depression"),
    (("osteoarthritis",), "osteoarthritis"),
    (("gout",), "gout"),
    (("chronic kidney disease", "CKD"), "chronic kidney disease"),
    (("hypercholesterolaemia",), "hypercholesterolaemia"),
    (("GORD", "gastro-oesophageal reflux disease"), "gastro-oesophageal reflux disease"),
    (("migraine",), "migraine"),
    (("epilepsy",), "epilepsy"),
)
PAST_CONDITIONS = (
    (("myocardial infarction", "MI", "heart attack"), "myocardial infarction"),
    (("stroke",), "stroke"),
    (("TIA", "transient ischaemic attack"), "transient ischaemic attack"),
    (("DVT", "deep vein thrombosis"), "deep vein thrombosis"),
    (("pulmonary embolism",), "pulmonary embolism"),
    (("pneumonia",), "pneumonia"),
)
FAMILY_CONDITIONS = (
    (("breast cancer",), "breast cancer"),
    (("ischaemic heart disease",), "ischaemic heart disease"),
    (("bowel cancer",), "bowel cancer"),
    (("stroke",), "stroke"),
    (("type 2 diabetes",), "type 2 diabetes mellitus"),
    (("dementia",), "dementia"),
    (("myocardial infarction",), "myocardial infarction"),
)
RULED_OUT = (
    (("pneumonia",), "pneumonia"),
    (("pulmonary embolism",), "pulmonary embolism"),
    (("DVT", "deep vein thrombosis"), "deep vein thrombosis"),
    (("heart failure",), "heart failure"),
)
SYMPTOMS = (
    "chest pain",
    "shortness of breath",
    "cough",
    "fever",
    "headache",
    "nausea",
    "vomiting",
    "palpitations",
    "dizziness",
    "fatigue",
    "abdominal pain",
    "syncope",
    "weight loss",
    "night sweats",
    "haemoptysis",
)
FINDINGS = (
    "crackles",
    "wheeze",
    "peripheral oedema",
    "murmur",
    "tenderness",
    "jaundice",
    "lymphadenopathy",
    "finger clubbing",
    "pallor",
)
ALLERGENS = (
    ("Penicillin", "penicillin", ("rash", "anaphylaxis", "hives", "facial swelling")),
    ("Codeine", "codeine", ("nausea", "vomiting", "constipation")),
    ("Latex", "latex", ("contact dermatitis", "itching")),
    ("Peanuts", "peanuts", ("anaphylaxis", "lip swelling")),
    ("Trimethoprim", "trimethoprim", ("rash",)),
    ("Ibuprofen", "ibuprofen", ("wheeze", "angioedema")),
    ("Sulfonamides", "sulfonamides", ("rash",)),
)
VACCINES = (
    (("Influenza vaccine", "influenza vaccination", "flu jab"), "Influenza", "influenza vaccine"),
    (("Pneumococcal vaccine",), "Pneumococcal", "pneumococcal vaccine"),
    (("COVID-19 booster", "COVID-19 vaccine"), "COVID-19", "COVID-19 vaccine"),
    (("Shingles vaccine",), "Shingles", "shingles vaccine"),
    (("Tetanus booster",), "Tetanus", "tetanus vaccine"),
)
OPERATIONS = (
    (("Appendicectomy", "appendicectomy"), "appendicectomy"),
    (("Cholecystectomy", "laparoscopic cholecystectomy"), "cholecystectomy"),
    (("Hip replacement", "total hip replacement"), "hip replacement"),
    (("Knee replacement",), "knee replacement"),
    (("Cataract surgery", "cataract extraction"), "cataract surgery"),
    (("Hysterectomy",), "hysterectomy"),
    (("Tonsillectomy",), "tonsillectomy"),
    (("Hernia repair", "inguinal hernia repair"), "hernia repair"),
)
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


# ---------------------------------------------------------------- small helpers


class Doc:
    """The RNG and writer of one document, with the helpers every kind uses."""

    def __init__(self, rng: random.Random, doc_id: str, kind: str) -> None:
        self.rng = rng
        self.w = Writer(doc_id, kind)
        self.name, self.pronoun = rng.choice(PATIENTS)
        self.doctor = rng.choice(DOCTORS)
        self.used: set[str] = set()

    @property
    def she(self) -> str:
        return self.pronoun

    @property
    def She(self) -> str:
        return self.pronoun.capitalize()

    @property
    def her(self) -> str:
        return "her" if self.pronoun == "she" else "his"

    def pick(self, options: Sequence[Any]) -> Any:
        return self.rng.choice(options)

    def fresh(self, options: Sequence[Any], key: Callable[[Any], str]) -> Any:
        """An option not used yet in this document (by `key`)."""
        left = [option for option in options if key(option) not in self.used]
        choice = self.rng.choice(left or list(options))
        self.used.add(key(choice))
        return choice

    def date(self, year_from: int = 2022, year_to: int = 2025) -> tuple[str, str]:
        """(as written, ISO): day-first numeric, ISO or written out."""
        year = self.rng.randint(year_from, year_to)
        month, day = self.rng.randint(1, 12), self.rng.randint(1, 28)
        iso = f"{year}-{month:02d}-{day:02d}"
        style = self.rng.randrange(5)
        written = (
            f"{day:02d}/{month:02d}/{year}",
            iso,
            f"{day} {MONTH_NAMES[month - 1]} {year}",
            f"{day:02d}-{MONTH_NAMES[month - 1][:3]}-{year}",
            f"{day}/{month}/{year}",
        )[style]
        return written, iso

    def dob(self) -> str:
        return self.date(1935, 1990)[0]

    def header(self, title: str, place: str, date_label: str) -> None:
        w = self.w
        w.line(place)
        w.line(title)
        w.line(f"Patient: {self.name}, DOB: {self.dob()}")
        if self.rng.random() < 0.5:
            number = self.rng.randint(100, 999)
            w.line(
                f"NHS number: {number} {self.rng.randint(100, 999)} {self.rng.randint(1000, 9999)}"
            )
        written, iso = self.date()
        w.line(f"{date_label}: {written}")
        w.document_date = iso
        w.gap()

    # ---- mentions with their records
    def medication(self, pool: Sequence[Any] = MEDICINES, status: str = "active") -> list[Part]:
        if pool is MEDICINES and self.rng.random() < 0.04:
            pool = UNLISTED
        display, name, strengths, unit, ucum = self.fresh(pool, lambda m: m[1])
        strength = self.pick(strengths)
        canonical = self.pick(tuple(FREQUENCIES))
        written = self.pick(FREQUENCIES[canonical])
        strength_text = f"{strength:g} {unit}" if self.rng.random() < 0.7 else f"{strength:g}{unit}"
        if unit == "micrograms":
            strength_text = f"{strength:g} micrograms"
        route, dose, text = None, None, ""
        style = self.rng.randrange(6)
        if style == 0:
            route = "oral"
            text = f"{display} {strength_text} {self.pick(ROUTES['oral'])} {written}"
        elif style == 1:
            dose = self.pick((1, 2)) if strength < 100 else 1
            count = {1: "one", 2: "two"}[dose] if self.rng.random() < 0.5 else str(dose)
            tablets = "tablet" if dose == 1 else "tablets"
            text = f"{display} {strength_text} tablets - take {count} {tablets} {written}"
        elif style == 2 and canonical in ("four times daily", "three times daily"):
            text = f"{display} {strength_text} {written} as required"
            canonical = f"{canonical} as needed"
        elif style == 3:
            dose = 1
            text = f"{display} {strength_text} tablets, one to be taken {SPOKEN[canonical]}"
        else:
            text = f"{display} {strength_text} {written}"
        if self.rng.random() < 0.08:
            text = text.upper()
        self.w.record(
            "medications",
            name=name,
            strength=float(strength),
            strength_unit=ucum,
            dose=None if dose is None else float(dose),
            route=route,
            frequency=canonical,
            status=status,
        )
        return [M(text, "medication")]

    def condition(
        self, pool: Sequence[Any], status: str = "active", lower: bool = True, **flags: bool
    ) -> M:
        names, canonical = self.fresh(pool, lambda c: c[1])
        text = self.pick(names)
        if not lower and text.islower():
            text = text[0].upper() + text[1:]
        self.w.record("conditions", name=canonical, status=status)
        return M(text, "condition", **flags)

    def symptom(self, **flags: bool) -> M:
        return M(self.fresh(SYMPTOMS, lambda s: s), "observation", **flags)

    def finding(self, capital: bool = False, **flags: bool) -> M:
        text = self.fresh(FINDINGS, lambda s: s)
        return M(text.capitalize() if capital else text, "physical_finding", **flags)

    def lab(self, canonical: str | None = None, *, prose: bool = False) -> M:
        if canonical is None:
            spec = self.fresh(LABS, lambda spec: spec[1])
        else:
            spec = next((s for s in LABS if s[1] == canonical), None)
        if spec is None:
            return self._bounded_lab(canonical, prose=prose)
        names, name, units, low, high, decimals = spec
        unit, ucum = self.pick(units)
        value = self._value(low, high, decimals)
        label = self.pick(names)
        if prose:
            self.w.record("lab_results", test=name, value=value, unit=ucum, abnormal_flag=None)
            return M(f"{label} {value:.{decimals}f} {unit}", "lab_result")
        flag_text, flag = self._flag(value, low, high)
        range_text = self._range(low, high, decimals)
        text = self._row(label, f"{value:.{decimals}f}", unit, range_text, flag_text)
        self.w.record("lab_results", test=name, value=value, unit=ucum, abnormal_flag=flag)
        return M(text, "lab_result")

    def _bounded_lab(self, canonical: str | None, *, prose: bool) -> M:
        spec = next(s for s in BOUNDED if s[1] == canonical)
        names, name, unit, ucum, op, bound, decimals = spec
        label = self.pick(names)
        if op == "<":
            value = round(
                self.rng.uniform(bound * 0.2, bound * (3 if self.rng.random() < 0.4 else 0.95)),
                decimals,
            )
            flag = "H" if value > bound else "N"
        else:
            value = round(self.rng.uniform(bound * 0.3, bound * 0.98), decimals)
            flag = "L"
        shown = f"{value:.{decimals}f}"
        if prose:
            self.w.record("lab_results", test=name, value=value, unit=ucum, abnormal_flag=None)
            return M(f"{label} {shown} {unit}", "lab_result")
        range_text = self.pick((f"({op}{bound:g})", f"({op} {bound:g})", f"[{op}{bound:g}]"))
        text = self._row(label, shown, unit, range_text, "")
        self.w.record("lab_results", test=name, value=value, unit=ucum, abnormal_flag=flag)
        return M(text, "lab_result")

    def _value(self, low: float, high: float, decimals: int) -> float:
        roll = self.rng.random()
        if roll < 0.18:
            value = self.rng.uniform(high * 1.05, high * 1.5)
        elif roll < 0.3 and low > 0:
            value = self.rng.uniform(low * 0.6, low * 0.95)
        else:
            value = self.rng.uniform(low + (high - low) * 0.1, high - (high - low) * 0.1)
        return round(value, decimals)

    def _flag(self, value: float, low: float, high: float) -> tuple[str, str]:
        """(flag as printed, gold flag): a printed flag, or none (the range decides)."""
        gold = "H" if value > high else "L" if value < low else "N"
        style = self.rng.randrange(4)
        if gold == "N":
            return ("N" if style == 0 else ""), "N"
        arrow = {"H": "\u2191", "L": "\u2193"}[gold]
        shown = (gold, {"H": "High", "L": "Low"}[gold], f"({gold})", "", arrow)[
            style if style < 3 else self.rng.choice((3, 4))
        ]
        return shown, gold

    def _range(self, low: float, high: float, decimals: int) -> str:
        lo, hi = f"{low:.{decimals}f}", f"{high:.{decimals}f}"
        return self.pick((f"({lo}-{hi})", f"[{lo} - {hi}]", f"{lo}-{hi}", f"(ref {lo}-{hi})"))

    def _row(self, label: str, value: str, unit: str, range_text: str, flag: str) -> str:
        style = self.rng.randrange(4)
        if style == 0:
            parts = [label, value, unit, range_text, flag]
        elif style == 1:
            parts = [f"{label}:", value, unit, flag, range_text]
        elif style == 2:
            parts = [label, value, unit, flag, range_text]
        else:
            parts = [label, value, flag, range_text, unit]
        return " ".join(part for part in parts if part)

    def vital(self, kind: str, *, compact: bool = False) -> M:
        maker = VITALS[kind]
        text, record = maker(self.rng, compact)
        self.w.record("vitals", type=kind, **record)
        return M(text, "vital_sign")

    def allergy_line(self) -> None:
        w = self.w
        if self.rng.random() < 0.3:
            text = self.pick(("NKDA", "No known drug allergies", "No known allergies"))
            w.line("Allergies: ", M(text, "allergy", negated=True))
            return
        label = self.pick(("Allergies", "Drug allergies", "Allergies and adverse reactions"))
        count = self.rng.randint(1, 2)
        items = []
        for _ in range(count):
            display, name, reactions = self.fresh(ALLERGENS, lambda a: a[1])
            reaction = self.pick(reactions)
            style = self.rng.randrange(3)
            text = (f"{display} ({reaction})", f"{display} - {reaction}", f"{display}: {reaction}")[
                style
            ]
            w.record("allergies", substance=name, reaction=reaction)
            items.append(M(text, "allergy"))
        if self.rng.random() < 0.5:
            w.line(f"{label}:")
            for item in items:
                w.line(item)
        else:
            parts: list[Part] = [f"{label}: "]
            for index, item in enumerate(items):
                parts += ([", "] if index else []) + [item]
            w.line(*parts)


def _bp(rng: random.Random, compact: bool) -> tuple[str, dict[str, Any]]:
    systolic, diastolic = rng.randint(100, 178), rng.randint(58, 102)
    label = rng.choice(("BP", "Blood pressure:", "BP:", "Blood pressure"))
    unit = rng.choice((" mmHg", " mmHg", ""))
    return f"{'BP' if compact else label} {systolic}/{diastolic}{unit}", {
        "value": None,
        "unit": "mm[Hg]",
        "systolic": float(systolic),
        "diastolic": float(diastolic),
    }


def _simple(
    labels: Sequence[str],
    units: Sequence[str],
    low: float,
    high: float,
    ucum: str,
    decimals: int = 0,
) -> Callable[[random.Random, bool], tuple[str, dict[str, Any]]]:
    def make(rng: random.Random, compact: bool) -> tuple[str, dict[str, Any]]:
        value = round(rng.uniform(low, high), decimals)
        label = labels[0] if compact else rng.choice(labels)
        unit = rng.choice(units)
        shown = f"{value:.{decimals}f}"
        text = f"{label} {shown}{unit}"
        return text, {"value": float(shown), "unit": ucum, "systolic": None, "diastolic": None}

    return make


def _temperature(rng: random.Random, compact: bool) -> tuple[str, dict[str, Any]]:
    celsius = round(rng.uniform(36.0, 39.4), 1)
    label = "Temp" if compact else rng.choice(("Temp", "Temperature", "T", "Temp:"))
    if rng.random() < 0.3:
        fahrenheit = round(celsius * 9 / 5 + 32, 1)
        text = f"{label} {fahrenheit:.1f}" + rng.choice((" F", "\u00b0F", " \u00b0F"))
        celsius = round((fahrenheit - 32) * 5 / 9, 1)
    else:
        text = f"{label} {celsius:.1f}" + rng.choice((" C", "\u00b0C", " \u00b0C", "C"))
    return text, {"value": celsius, "unit": "Cel", "systolic": None, "diastolic": None}


def _weight(rng: random.Random, compact: bool) -> tuple[str, dict[str, Any]]:
    kg = round(rng.uniform(52, 118), 1)
    if rng.random() < 0.2:
        pounds = round(kg / 0.45359237)
        return f"Weight {pounds} lb", {
            "value": round(pounds * 0.45359237, 1),
            "unit": "kg",
            "systolic": None,
            "diastolic": None,
        }
    label = "Weight" if compact else rng.choice(("Weight", "Wt", "Weight:"))
    return f"{label} {kg:.1f} kg", {"value": kg, "unit": "kg", "systolic": None, "diastolic": None}


def _height(rng: random.Random, compact: bool) -> tuple[str, dict[str, Any]]:
    cm = rng.randint(150, 192)
    if rng.random() < 0.3:
        return f"Height {cm / 100:.2f} m", {
            "value": float(cm),
            "unit": "cm",
            "systolic": None,
            "diastolic": None,
        }
    label = "Height" if compact else rng.choice(("Height", "Ht"))
    return f"{label} {cm} cm", {
        "value": float(cm),
        "unit": "cm",
        "systolic": None,
        "diastolic": None,
    }


VITALS: dict[str, Callable[[random.Random, bool], tuple[str, dict[str, Any]]]] = {
    "blood_pressure": _bp,
    "heart_rate": _simple(
        ("HR", "Pulse", "Heart rate:", "Pulse rate"),
        (" bpm", " /min", " beats per minute", ""),
        52,
        118,
        "/min",
    ),
    "temperature": _temperature,
    "respiratory_rate": _simple(
        ("RR", "Resp rate", "Respiratory rate:"), ("", " /min", " breaths/min"), 12, 28, "/min"
    ),
    "oxygen_saturation": _simple(
        ("SpO2", "Sats", "O2 saturation", "SpO2:"), ("%", " %"), 88, 100, "%"
    ),
    "weight": _weight,
    "height": _height,
    "bmi": _simple(("BMI", "BMI:"), ("", " kg/m2"), 18.5, 38.0, "kg/m2", 1),
}


# ---------------------------------------------------------------- phrasings
#
# Each returns the parts of one sentence. Some phrasings are beyond the local
# provider's rules on purpose ("Free from X.", "X: none.", "She had X in 2015.",
# "Safety-net advice was given about X."), so the scores show its limits.


def _capital(mention: M) -> M:
    return M(
        mention.text[0].upper() + mention.text[1:],
        mention.type,
        mention.negated,
        mention.historical,
        mention.family,
        mention.hypothetical,
    )


def _denial(d: Doc) -> list[Part]:
    x = d.symptom(negated=True)
    options: list[list[Part]] = [
        [f"{d.She} denies ", x, "."],
        ["No ", x, "."],
        [f"{d.She} has not had any ", x, "."],
        ["There was no ", x, "."],
        [_capital(x), " was not present."],
        ["Negative for ", x, "."],
        [f"{d.She} did not report any ", x, "."],
        [_capital(x), " was denied."],
        ["Free from ", x, "."],
        [_capital(x), ": none."],
    ]
    return d.pick(options)


def _history_sentence(d: Doc) -> list[Part]:
    year = d.rng.randint(2005, 2021)
    She = d.She

    def past(capital: bool = False, status: str = "history") -> M:
        return d.condition(PAST_CONDITIONS, status=status, lower=not capital, historical=True)

    options: list[Callable[[], list[Part]]] = [
        lambda: [f"{She} has a history of ", past(), "."],
        lambda: ["There is a past history of ", past(), "."],
        lambda: [f"{She} had a previous ", past(), "."],
        lambda: ["h/o ", past(), "."],
        lambda: [f"{She} had ", past(), f" in {year}."],
        lambda: [_capital(past(status="resolved")), f" in {year}, now resolved."],
    ]
    return d.pick(options)()


def _family_sentence(d: Doc) -> list[Part]:
    relative = d.pick(("mother", "father", "brother", "sister"))
    her = d.her.capitalize()

    def relative_had(capital: bool = False) -> M:
        return d.condition(FAMILY_CONDITIONS, status="family", family=True, lower=not capital)

    options: list[Callable[[], list[Part]]] = [
        lambda: [f"{her} {relative} had ", relative_had(), "."],
        lambda: ["There is a family history of ", relative_had(), "."],
        lambda: [_capital(relative_had()), f" in {d.her} {relative}."],
        lambda: [
            "There is no family history of ",
            d.condition(RULED_OUT, status="negated", negated=True, family=True),
            ".",
        ],
        lambda: [f"{her} late {relative} suffered from ", relative_had(), "."],
        lambda: [_capital(relative_had()), " runs in the family."],
        lambda: ["Maternal grandmother had ", relative_had(), "."],
    ]
    return d.pick(options)()


def _advice_sentence(d: Doc) -> list[Part]:
    x = d.symptom(hypothetical=True)
    options: list[list[Part]] = [
        ["Return if ", x, " develops."],
        [f"{d.She} should seek medical advice if ", x, " recurs."],
        [f"If {d.she} develops ", x, ", please refer back to the medical team."],
        [f"{d.She} was advised to return in case of ", x, "."],
        ["Should ", x, " occur, please re-refer."],
        ["Safety-net advice was given about ", x, "."],
    ]
    return d.pick(options)


def _prose_vital(d: Doc, kind: str) -> M:
    """A reading as a letter writes it ("her blood pressure was 142/91 mmHg")."""
    rng = d.rng
    if kind == "blood_pressure":
        systolic, diastolic = rng.randint(104, 176), rng.randint(60, 100)
        text = rng.choice(
            (
                f"blood pressure was {systolic}/{diastolic} mmHg",
                f"BP was {systolic}/{diastolic}",
                f"BP {systolic} / {diastolic}",
                f"BP {systolic} over {diastolic}",
            )
        )
        record = {"value": None, "systolic": float(systolic), "diastolic": float(diastolic)}
        d.w.record("vitals", type=kind, unit="mm[Hg]", **record)
        return M(text, "vital_sign")
    if kind == "heart_rate":
        rate = rng.randint(54, 110)
        text = rng.choice((f"pulse {rate}", f"pulse was {rate} bpm", f"heart rate of {rate}"))
        d.w.record("vitals", type=kind, value=float(rate), unit="/min")
        return M(text, "vital_sign")
    if kind == "temperature":
        celsius = round(rng.uniform(36.2, 39.0), 1)
        text = rng.choice((f"temperature of {celsius} degrees", f"temperature was {celsius}C"))
        d.w.record("vitals", type=kind, value=celsius, unit="Cel")
        return M(text, "vital_sign")
    sats = rng.randint(90, 99)
    text = rng.choice((f"saturations were {sats}%", f"oxygen saturation {sats}%"))
    d.w.record("vitals", type="oxygen_saturation", value=float(sats), unit="%")
    return M(text, "vital_sign")


# ---------------------------------------------------------------- kinds of document


def lab_report(rng: random.Random, doc_id: str) -> CorpusDocument:
    d = Doc(rng, doc_id, "lab_report")
    w = d.w
    title = d.pick(("Laboratory report", "Pathology report", "Blood test results", "Lab results"))
    w.line(f"{d.pick(HOSPITALS)} Pathology")
    w.line(title)
    w.line(f"Patient: {d.name}, DOB: {d.dob()}")
    collected, _ = d.date()
    reported, iso = d.date()
    w.line(f"Collected: {collected} Reported: {reported}")
    w.document_date = iso
    w.line(f"Requested by: {d.doctor}")
    w.gap()
    panels = rng.sample(PANELS, rng.randint(2, 4))
    two_pages = rng.random() < 0.4
    for index, (panel, tests) in enumerate(panels):
        if two_pages and index == len(panels) // 2 and index:
            w.line("Page 1 of 2")
            w.page_break()
        w.line(panel)
        if rng.random() < 0.4:
            w.line("Test Result Units Reference range")
        for test in tests:
            if test in d.used:
                continue
            d.used.add(test)
            w.line(d.lab(test))
        w.gap()
    _lab_comment(d)
    w.line(f"Authorised by: {d.doctor}, Consultant Chemical Pathologist")
    return w.build()


def _lab_comment(d: Doc) -> None:
    style = d.rng.randrange(4)
    if style == 0:
        d.w.line("Comment: Results consistent with ", d.condition(CONDITIONS), ".")
    elif style == 1:
        d.w.line(
            "Comment: No evidence of ", d.condition(RULED_OUT, status="negated", negated=True), "."
        )
    elif style == 2:
        d.w.line("Comment: Please repeat in 3 months.")


def vitals_record(rng: random.Random, doc_id: str) -> CorpusDocument:
    d = Doc(rng, doc_id, "vitals_record")
    w = d.w
    title = d.pick(("Observation chart", "Vital signs record", "Nursing observations"))
    d.header(title, f"{d.pick(HOSPITALS)} - {d.pick(WARDS)}", "Date")
    sets = rng.randint(1, 3)
    for index in range(sets):
        if index == 2:
            w.line("Page 1 of 2")
            w.page_break()
        w.line(f"Observations at {rng.randint(6, 22):02d}:{rng.choice(('00', '15', '30', '45'))}")
        kinds = [
            "blood_pressure",
            "heart_rate",
            "temperature",
            "respiratory_rate",
            "oxygen_saturation",
        ]
        if index == 0 and rng.random() < 0.6:
            kinds += ["weight", "height", "bmi"]
        if rng.random() < 0.4:
            parts: list[Part] = []
            for position, kind in enumerate(kinds):
                parts += ([", "] if position else []) + [d.vital(kind, compact=True)]
            w.para(*parts, width=80)
        else:
            for kind in kinds:
                w.line(d.vital(kind))
        w.line(f"NEWS2 score: {rng.randint(0, 6)}")
        w.gap()
    _vitals_comment(d)
    w.line(f"Recorded by: Staff Nurse {d.pick(('Jones', 'Adeyemi', 'Murphy', 'Kowalski'))}")
    return w.build()


def _vitals_comment(d: Doc) -> None:
    style = d.rng.randrange(3)
    if style == 0:
        d.w.para("Comment: Patient reports ", d.symptom(), ". ", *_denial(d), width=84)
    elif style == 1:
        d.w.para("Comment: ", *_denial(d), " ", *_advice_sentence(d), width=84)


def medication_list(rng: random.Random, doc_id: str) -> CorpusDocument:
    d = Doc(rng, doc_id, "medication_list")
    w = d.w
    title = d.pick(("Medication list", "Repeat prescriptions", "Medication record"))
    d.header(title, d.pick(PRACTICES), d.pick(("Date printed", "Date")))
    w.line(d.pick(("Current medications:", "Repeat medications:", "Regular medications")))
    bullet = d.pick(("", "- ", "numbered"))
    for index in range(rng.randint(4, 8)):
        prefix = f"{index + 1}. " if bullet == "numbered" else bullet
        w.line(prefix, *d.medication())
    w.gap()
    if rng.random() < 0.6:
        w.line(d.pick(("Stopped medications:", "Discontinued medications:")))
        for _ in range(rng.randint(1, 2)):
            parts = d.medication(status="stopped")
            written, _ = d.date()
            w.line(*parts, f" - stopped {written}")
        w.gap()
    d.allergy_line()
    w.gap()
    if rng.random() < 0.5:
        w.line(d.pick(("Problems:", "Active problems:", "Problem list:")))
        for _ in range(rng.randint(1, 3)):
            w.line(d.condition(CONDITIONS, lower=False))
        w.gap()
    if rng.random() < 0.5:
        _immunisations(d)
    return w.build()


def _immunisations(d: Doc) -> None:
    w = d.w
    w.line(d.pick(("Immunisations:", "Vaccinations:")))
    for _ in range(d.rng.randint(1, 2)):
        names, bare, canonical = d.fresh(VACCINES, lambda v: v[2])
        written, iso = d.date(2019, 2024)
        text = bare if d.rng.random() < 0.5 else names[0]
        w.line(M(text, "immunization"), f" {written}")
        w.record("immunizations", vaccine=canonical, date=iso)
    w.gap()


def discharge_summary(rng: random.Random, doc_id: str) -> CorpusDocument:
    d = Doc(rng, doc_id, "discharge_summary")
    w = d.w
    w.line(f"{d.pick(HOSPITALS)} NHS Trust")
    w.line(d.pick(("Discharge summary", "Discharge letter", "Inpatient discharge summary")))
    w.line(f"Patient: {d.name}, DOB: {d.dob()}")
    admitted, _ = d.date()
    discharged, iso = d.date()
    w.line(f"Admission date: {admitted} Discharge date: {discharged}")
    w.document_date = iso
    w.line(f"Consultant: {d.doctor}, {d.pick(WARDS)}")
    w.gap()
    _admission(d)
    _past_history(d)
    _family_history(d)
    w.line("Page 1 of 2")
    w.page_break()
    _examination(d)
    _investigations(d)
    _diagnosis(d)
    w.line(d.pick(("Medications on discharge:", "Discharge medications:")))
    w.line(*d.medication(ACUTE, status="active"), " for 5 days")
    for _ in range(rng.randint(2, 4)):
        w.line(*d.medication())
    w.gap()
    d.allergy_line()
    w.gap()
    _advice(d)
    return w.build()


def _admission(d: Doc) -> None:
    first, second = d.symptom(), d.symptom()
    d.w.line("Presenting complaint:")
    d.w.para(
        f"{d.rng.randint(2, 6)} day history of ",
        first,
        " and ",
        second,
        ". ",
        *_denial(d),
        " ",
        *_denial(d),
        width=d.rng.randint(70, 95),
    )
    d.w.gap()


def _past_history(d: Doc) -> None:
    w = d.w
    w.line(d.pick(("Past medical history:", "PMH:", "Previous medical history:")))
    for _ in range(d.rng.randint(2, 3)):
        w.line("- ", d.condition(CONDITIONS, status="history", lower=False, historical=True))
    year = d.rng.randint(2008, 2021)
    past = d.condition(PAST_CONDITIONS, status="history", historical=True)
    w.line("- Previous ", past, f" ({year})")
    d.w.records["conditions"][-1]["onset_date"] = str(year)
    if d.rng.random() < 0.5:
        names, canonical = d.fresh(OPERATIONS, lambda o: o[1])
        op_year = d.rng.randint(1990, 2020)
        w.line("- ", M(names[0], "procedure", historical=True), f" {op_year}")
        w.record("procedures", name=canonical, date=str(op_year))
    w.gap()


def _family_history(d: Doc) -> None:
    relative = d.pick(("Mother", "Father", "Brother", "Sister"))
    condition = d.condition(FAMILY_CONDITIONS, status="family", family=True)
    if d.rng.random() < 0.5:
        d.w.line("Family history: ", relative, " - ", condition)
    else:
        d.w.line("Family history: ", f"{relative} had ", condition, ".")
    d.w.gap()


def _examination(d: Doc) -> None:
    d.w.line("Examination:")
    d.w.para(
        d.finding(),
        " noted. No ",
        d.finding(negated=True),
        ". Heart sounds normal.",
        width=d.rng.randint(70, 95),
    )
    parts: list[Part] = ["Observations on admission: "]
    for index, kind in enumerate(
        ("temperature", "heart_rate", "blood_pressure", "oxygen_saturation")
    ):
        parts += ([", "] if index else []) + [d.vital(kind, compact=True)]
    d.w.para(*parts, ".", width=d.rng.randint(70, 95))
    d.w.gap()


def _investigations(d: Doc) -> None:
    parts: list[Part] = ["Investigations: "]
    names = d.rng.sample(["CRP", "haemoglobin", "white cell count", "sodium", "creatinine"], 3)
    for index, name in enumerate(names):
        d.used.add(name)
        parts += ([", "] if index else []) + [d.lab(name, prose=True)]
    parts += [
        ". ",
        M("Chest X-ray", "procedure"),
        " showed ",
        M("consolidation", "physical_finding"),
        ".",
    ]
    d.w.record("procedures", name="chest X-ray", date=None)
    d.w.para(*parts, width=d.rng.randint(70, 95))
    d.w.gap()


def _diagnosis(d: Doc) -> None:
    diagnosis = d.condition(
        (
            (("community acquired pneumonia", "pneumonia"), "pneumonia"),
            (("urinary tract infection",), "urinary tract infection"),
            (("cellulitis",), "cellulitis"),
            (("heart failure",), "heart failure"),
        ),
        lower=False,
    )
    excluded = d.condition(RULED_OUT, status="negated", negated=True)
    style = d.rng.randrange(2)
    if style == 0:
        d.w.line("Diagnosis: ", diagnosis, ". ", _capital(excluded), " was ruled out.")
    else:
        d.w.line("Diagnosis: ", diagnosis, ". No evidence of ", excluded, ".")
    d.w.gap()


def _advice(d: Doc) -> None:
    lead = d.pick(("Follow-up: GP review in 2 weeks. ", "Advice: ", "Plan: "))
    d.w.para(lead, *_advice_sentence(d), width=d.rng.randint(70, 95))


def clinic_letter(rng: random.Random, doc_id: str) -> CorpusDocument:
    d = Doc(rng, doc_id, "clinic_letter")
    w = d.w
    clinic = d.pick(("Cardiology", "Endocrinology", "Respiratory", "General Medicine"))
    w.line(f"{d.pick(HOSPITALS)} - {clinic} Outpatient Clinic")
    written, iso = d.date()
    w.line(f"Date: {written}")
    w.document_date = iso
    w.gap()
    w.line(f"Dear {d.pick(DOCTORS)},")
    w.line(f"Re: {d.name}, DOB: {d.dob()}")
    w.gap()
    w.line("Diagnoses:")
    for index in range(rng.randint(1, 3)):
        w.line(f"{index + 1}. ", d.condition(CONDITIONS, lower=False))
    w.gap()
    width = rng.randint(78, 96)
    _letter_history(d, width)
    _letter_findings(d, width)
    if rng.random() < 0.5:
        w.line("Page 1 of 2")
        w.page_break()
    _letter_medicines(d, width)
    _letter_extras(d, width)
    w.para(f"Yours sincerely, {d.doctor}, Consultant", width=width)
    if rng.random() < 0.3:
        # A team's name is not the patient's condition: the gold has no entity here.
        team = d.pick(("Diabetes specialist nurse", "Heart failure nurse team", "Asthma nurse"))
        w.line(f"cc: {team}")
    return w.build()


def _letter_history(d: Doc, width: int) -> None:
    She = d.She
    opening = d.pick(("reports", "describes", "complains of"))
    d.w.para(
        f"I reviewed {d.name} in clinic today. {She} {opening} ",
        d.symptom(),
        " but denies ",
        d.symptom(negated=True),
        ". ",
        *_history_sentence(d),
        " ",
        *_family_sentence(d),
        width=width,
    )
    d.w.gap()


def _letter_findings(d: Doc, width: int) -> None:
    if d.rng.random() < 0.5:
        kinds = d.rng.sample(
            ["blood_pressure", "heart_rate", "temperature", "oxygen_saturation"], 2
        )
        first, second = (_prose_vital(d, kind) for kind in kinds)
    else:
        vitals = d.rng.sample(["blood_pressure", "heart_rate", "weight", "oxygen_saturation"], 2)
        first, second = (d.vital(kind, compact=True) for kind in vitals)
    lab_a = d.lab(d.pick(["haemoglobin", "potassium", "HbA1c", "creatinine"]), prose=True)
    lab_b = d.lab(d.pick(["eGFR", "total cholesterol", "CRP"]), prose=True)
    d.w.para(
        "On examination ",
        first,
        " and ",
        second,
        ". ",
        d.finding(capital=True),
        " was present but there was no ",
        d.finding(negated=True),
        ". Recent bloods showed ",
        lab_a,
        " and ",
        lab_b,
        ".",
        width=width,
    )
    d.w.gap()


def _letter_medicines(d: Doc, width: int) -> None:
    w = d.w
    w.line("Current medication:")
    for _ in range(d.rng.randint(2, 4)):
        w.line(*d.medication())
    w.gap()
    stopped = d.medication(status="stopped")
    started = d.medication(status="new")
    w.para(
        "Plan: I have stopped ",
        *stopped,
        " and started ",
        *started,
        ". ",
        "If ",
        d.she,
        " develops ",
        d.symptom(hypothetical=True),
        " ",
        d.she,
        " should attend the emergency department.",
        width=width,
    )
    w.gap()


def _letter_extras(d: Doc, width: int) -> None:
    w = d.w
    parts: list[Part] = []
    if d.rng.random() < 0.6:
        names, _, canonical = d.fresh(VACCINES, lambda v: v[2])
        written, iso = d.date(2021, 2024)
        parts += [
            f"{d.She} received {d.her} ",
            M(d.pick(names), "immunization"),
            f" on {written}. ",
        ]
        w.record("immunizations", vaccine=canonical, date=iso)
    if d.rng.random() < 0.6:
        names, canonical = d.fresh(OPERATIONS, lambda o: o[1])
        year = d.rng.randint(1995, 2021)
        parts += [f"{d.She} underwent ", M(names[-1].lower(), "procedure"), f" in {year}. "]
        w.record("procedures", name=canonical, date=str(year))
    parts += [f"{d.She} is allergic to "]
    display, name, _ = d.fresh(ALLERGENS, lambda a: a[1])
    parts += [M(display.lower(), "allergy"), "."]
    w.record("allergies", substance=name, reaction=None)
    w.para(*parts, width=width)
    w.gap()


KINDS: dict[str, Callable[[random.Random, str], CorpusDocument]] = {
    "lab_report": lab_report,
    "vitals_record": vitals_record,
    "medication_list": medication_list,
    "discharge_summary": discharge_summary,
    "clinic_letter": clinic_letter,
}
PREFIX = {
    "lab_report": "lab",
    "vitals_record": "obs",
    "medication_list": "meds",
    "discharge_summary": "dis",
    "clinic_letter": "letter",
}


def corpus(seed: int = 20240312, per_kind: int = 10) -> list[CorpusDocument]:
    """`per_kind` documents of each kind, the same for the same seed."""
    rng = random.Random(seed)
    documents = []
    for kind, make in KINDS.items():
        for number in range(1, per_kind + 1):
            documents.append(make(random.Random(rng.random()), f"{PREFIX[kind]}-{number:02d}"))
    return documents


# ---------------------------------------------------------------- scoring


@dataclass
class Score:
    """Precision, recall and F1 from matched and total counts."""

    matched_predicted: int = 0
    predicted: int = 0
    matched_gold: int = 0
    gold: int = 0

    @property
    def precision(self) -> float:
        return self.matched_predicted / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.matched_gold / self.gold if self.gold else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass(frozen=True)
class Miss:
    """One entity error: `kind` is "missed" (gold not found), "spurious" (a prediction
    matching no gold), or "<flag> not set" / "<flag> wrongly set" on a matched pair;
    `line` is the document line the mention starts on."""

    doc: str
    kind: str
    type: str
    text: str
    line: str = ""


@dataclass
class Evaluation:
    entities: dict[str, Score] = field(default_factory=dict)
    flags: dict[str, Score] = field(default_factory=dict)  # per flag: gold-true mentions found true
    records: dict[str, Score] = field(default_factory=dict)
    document_dates: Score = field(default_factory=Score)
    misses: list[str] = field(default_factory=list)  # readable notes of what went wrong
    errors: list[Miss] = field(default_factory=list)  # the entity errors among them, as data
    groups: dict[str, Evaluation] = field(default_factory=dict)  # per `group` of evaluate()

    def negation_accuracy(self) -> float:
        return self.flags["negated"].recall if "negated" in self.flags else 1.0


def match_entities(
    gold: list[tuple[int, int, GoldEntity]], predicted: Sequence[Any]
) -> list[tuple[GoldEntity, Any | None]]:
    """Pairs each gold entity with a predicted one of the same type whose span overlaps it
    (each predicted entity used once, the largest overlap first), or with None."""
    pairs: list[tuple[int, int, int]] = []
    for g, (start, end, entity) in enumerate(gold):
        for p, candidate in enumerate(predicted):
            overlap = min(end, candidate.end) - max(start, candidate.start)
            if candidate.type == entity.type and overlap > 0:
                pairs.append((overlap, g, p))
    used_gold: dict[int, int] = {}
    used_predicted: set[int] = set()
    for _, g, p in sorted(pairs, key=lambda item: (-item[0], item[1], item[2])):
        if g not in used_gold and p not in used_predicted:
            used_gold[g] = p
            used_predicted.add(p)
    return [
        (entity, predicted[used_gold[g]] if g in used_gold else None)
        for g, (_, _, entity) in enumerate(gold)
    ]


def evaluate(
    documents: Sequence[CorpusDocument],
    run: Callable[[DocumentText], Any],
    group: Callable[[CorpusDocument], str | None] | None = None,
) -> Evaluation:
    """Score a provider over the corpus. `run(doc_text)` returns (entities, records).
    With `group`, each document is also scored into `groups[group(doc)]` (a document
    whose group is None only into the whole). A document with `scored_types` has
    predictions of other types dropped before scoring."""
    result = Evaluation()
    for doc in documents:
        text = document_text(doc)
        entities, records = run(text)
        if doc.scored_types is not None:
            entities = [e for e in entities if e.type in doc.scored_types]
        name = group(doc) if group is not None else None
        targets = (
            [result] if name is None else [result, result.groups.setdefault(name, Evaluation())]
        )
        gold = gold_spans(doc, text)
        for target in targets:
            _score_entities(target, doc, gold, entities, text)
            if records is not None:
                _score_records(target, doc, records)
    return result


def _score_entities(
    result: Evaluation,
    doc: CorpusDocument,
    gold: list[tuple[int, int, GoldEntity]],
    entities: Sequence[Any],
    text: DocumentText,
) -> None:
    pairs = match_entities(gold, entities)
    matched = {id(found) for _, found in pairs if found is not None}

    def note(kind: str, type_: str, mention: str, start: int, message: str) -> None:
        result.misses.append(f"{doc.id}: {message}")
        result.errors.append(Miss(doc.id, kind, type_, mention, _line_at(text, start)))

    for (start, _, entity), (_, found) in zip(gold, pairs, strict=True):
        score = result.entities.setdefault(entity.type, Score())
        score.gold += 1
        score.matched_gold += found is not None
        if found is None:
            note("missed", entity.type, entity.text, start, f"missed {entity.type} {entity.text!r}")
            continue
        for flag in FLAGS:
            flag_score = result.flags.setdefault(flag, Score())
            if getattr(entity, flag):
                flag_score.gold += 1
                flag_score.matched_gold += bool(getattr(found, flag))
                if not getattr(found, flag):
                    note(
                        f"{flag} not set",
                        entity.type,
                        entity.text,
                        start,
                        f"{flag} not set on {entity.text!r}",
                    )
            if getattr(found, flag):
                flag_score.predicted += 1
                flag_score.matched_predicted += bool(getattr(entity, flag))
                if not getattr(entity, flag):
                    note(
                        f"{flag} wrongly set",
                        found.type,
                        found.text,
                        found.start,
                        f"{flag} wrongly set on {found.text!r}",
                    )
    for found in entities:
        score = result.entities.setdefault(found.type, Score())
        score.predicted += 1
        score.matched_predicted += id(found) in matched
        if id(found) not in matched:
            note(
                "spurious",
                found.type,
                found.text,
                found.start,
                f"spurious {found.type} {found.text!r}",
            )


def _line_at(text: DocumentText, offset: int) -> str:
    """The document line holding `offset`, for reading an error in its context."""
    start = text.text.rfind("\n", 0, offset) + 1
    end = text.text.find("\n", offset)
    return text.text[start : end if end >= 0 else len(text.text)]


def _score_records(result: Evaluation, doc: CorpusDocument, records: Any) -> None:
    result.document_dates.gold += 1
    result.document_dates.predicted += 1
    if records.document_date == doc.document_date:
        result.document_dates.matched_gold += 1
        result.document_dates.matched_predicted += 1
    else:
        result.misses.append(
            f"{doc.id}: document date {records.document_date} != {doc.document_date}"
        )
    for kind in RECORD_KINDS:
        gold = doc.records.get(kind, [])
        predicted = list(getattr(records, kind))
        score = result.records.setdefault(kind, Score())
        score.gold += len(gold)
        score.predicted += len(predicted)
        left = list(predicted)
        for expected in gold:
            hit = next((r for r in left if _fits(expected, r)), None)
            if hit is None:
                result.misses.append(f"{doc.id}: no {kind} record like {expected}")
                continue
            left.remove(hit)
            score.matched_gold += 1
            score.matched_predicted += 1
        for extra in left:
            result.misses.append(f"{doc.id}: extra {kind} record {extra}")


def _fits(expected: dict[str, Any], record: Any) -> bool:
    for name, value in expected.items():
        found = getattr(record, name)
        if isinstance(value, float) and isinstance(found, float):
            if abs(value - found) > 0.051:
                return False
        elif found != value:
            return False
    return True


def style_table(evaluation: Evaluation, types: Sequence[str] = ("medication", "condition")) -> str:
    """A plain-text table of `types` per group of the evaluation (see evaluate's `group`)."""
    rows = ["group      type               gold  pred  precision  recall     F1"]
    for name, part in sorted(evaluation.groups.items()):
        for kind in types:
            score = part.entities.get(kind)
            if score is None or not (score.gold or score.predicted):
                continue
            rows.append(
                f"{name:<10} {kind:<18} {score.gold:>4}  {score.predicted:>4}"
                f"  {score.precision:>9.3f}  {score.recall:>6.3f}  {score.f1:>5.3f}"
            )
    return "\n".join(rows)


def table(evaluation: Evaluation, records: bool = True) -> str:
    """A plain-text table of the scores, for the benchmark and for failing tests;
    `records=False` leaves out the record rows (a set without gold records)."""
    rows = ["type               gold  pred  precision  recall     F1"]
    for name, score in sorted(evaluation.entities.items()):
        rows.append(
            f"{name:<18} {score.gold:>4}  {score.predicted:>4}  {score.precision:>9.3f}"
            f"  {score.recall:>6.3f}  {score.f1:>5.3f}"
        )
    rows.append("")
    rows.append("flag               gold  found-set  recall  precision")
    for name, score in evaluation.flags.items():
        rows.append(
            f"{name:<18} {score.gold:>4}  {score.matched_gold:>9}  {score.recall:>6.3f}"
            f"  {score.precision:>9.3f}"
        )
    if not records:
        return "\n".join(rows)
    rows.append("")
    rows.append("records            gold  pred  precision  recall     F1")
    for name, score in evaluation.records.items():
        rows.append(
            f"{name:<18} {score.gold:>4}  {score.predicted:>4}  {score.precision:>9.3f}"
            f"  {score.recall:>6.3f}  {score.f1:>5.3f}"
        )
    dates = evaluation.document_dates
    rows.append(f"document dates     {dates.gold:>4}  correct {dates.recall:.3f}")
    return "\n".join(rows)


# ---------------------------------------------------------------- hand-written documents
#
# Six documents written by hand in other house styles (a GP referral, a discharge
# notification, an upper-case biochemistry report, a GP system's medication export,
# a nursing chart, a respiratory letter). Their gold was written before the local
# provider was run on them, and the rules were not tuned to them: they are the
# held-out check on how far the generator's phrasing flatters the rules.


def _referral() -> CorpusDocument:
    w = Writer("hand-referral", "clinic_letter")
    w.line("Parkside Health Centre")
    w.line("12 Church Lane, Leeds")
    w.line("Date: 04/11/2024")
    w.document_date = "2024-11-04"
    w.gap()
    w.line("Dear Colleague,")
    w.line("Re: Mr Alan Brooks, DOB 14/06/1956")
    w.gap()
    w.para(
        "Thank you for seeing this 68 year old man with a 3 month history of exertional ",
        M("chest tightness", "observation"),
        " and ",
        M("breathlessness", "observation"),
        " on climbing stairs. He has had no ",
        M("syncope", "observation", negated=True),
        " and no ",
        M("palpitations", "observation", negated=True),
        ". He was diagnosed with ",
        M("type 2 diabetes", "condition"),
        " in 2015 and has ",
        M("hypertension", "condition"),
        ". He had a ",
        M("TIA", "condition", historical=True),
        " in 2019 from which he made a full recovery. His father died of a ",
        M("myocardial infarction", "condition", family=True),
        " aged 58 and his brother has ",
        M("angina", "condition", family=True),
        ". He is an ",
        M("ex-smoker", "observation", historical=True),
        " of 20 pack years.",
        width=92,
    )
    w.para(
        "On examination his ",
        M("BP was 156/94 mmHg", "vital_sign"),
        ", ",
        M("pulse 78", "vital_sign"),
        " regular, ",
        M("BMI 31.4", "vital_sign"),
        ". Heart sounds were normal with no ",
        M("murmurs", "physical_finding", negated=True),
        " and there was no ",
        M("ankle swelling", "physical_finding", negated=True),
        ".",
        width=92,
    )
    w.para(
        "Recent bloods: ",
        M("HbA1c 62 mmol/mol", "lab_result"),
        ", ",
        M("total cholesterol 5.8 mmol/L", "lab_result"),
        ", ",
        M("eGFR 71 mL/min/1.73m2", "lab_result"),
        ".",
        width=92,
    )
    w.para(
        "His current medication is ",
        M("metformin 1 g twice daily", "medication"),
        ", ",
        M("ramipril 10 mg once daily", "medication"),
        " and ",
        M("atorvastatin 20 mg at night", "medication"),
        ". I have added ",
        M("aspirin 75 mg daily", "medication"),
        ".",
        width=92,
    )
    w.para(
        "He is allergic to ",
        M("penicillin", "allergy"),
        ", which gives him a widespread rash.",
        width=92,
    )
    w.para(
        "I would be grateful for your assessment. If his ",
        M("chest pain", "observation", hypothetical=True),
        " becomes more frequent or occurs at rest, I have advised him to call 999.",
        width=92,
    )
    w.line("Yours faithfully,")
    w.line("Dr K Osei")
    for name, strength, unit, frequency, status in (
        ("metformin", 1.0, "g", "twice daily", "active"),
        ("ramipril", 10.0, "mg", "once daily", "active"),
        ("atorvastatin", 20.0, "mg", "at night", "active"),
        ("aspirin", 75.0, "mg", "once daily", "new"),
    ):
        w.record(
            "medications",
            name=name,
            strength=strength,
            strength_unit=unit,
            frequency=frequency,
            status=status,
        )
    for test, value, unit in (
        ("HbA1c", 62.0, "mmol/mol"),
        ("total cholesterol", 5.8, "mmol/L"),
        ("eGFR", 71.0, "mL/min/{1.73_m2}"),
    ):
        w.record("lab_results", test=test, value=value, unit=unit)
    w.record("vitals", type="blood_pressure", systolic=156.0, diastolic=94.0, unit="mm[Hg]")
    w.record("vitals", type="heart_rate", value=78.0, unit="/min")
    w.record("vitals", type="bmi", value=31.4, unit="kg/m2")
    for name, status in (
        ("type 2 diabetes mellitus", "active"),
        ("hypertension", "active"),
        ("transient ischaemic attack", "history"),
        ("myocardial infarction", "family"),
        ("angina", "family"),
    ):
        w.record("conditions", name=name, status=status)
    w.record("allergies", substance="penicillin", reaction="widespread rash")
    return w.build()


def _notification() -> CorpusDocument:
    w = Writer("hand-notification", "discharge_summary")
    w.line("RIVERSIDE GENERAL HOSPITAL")
    w.line("DISCHARGE NOTIFICATION")
    w.line("Name: Mrs Joan Patterson")
    w.line("Hospital No: R4471902")
    w.line("Date of admission: 2 February 2024")
    w.line("Date of discharge: 9 February 2024")
    w.document_date = "2024-02-09"
    w.gap()
    w.line("Diagnosis on discharge: Exacerbation of ", M("COPD", "condition"))
    w.line(
        "Secondary diagnoses: ",
        M("Atrial fibrillation", "condition"),
        ", ",
        M("Chronic kidney disease", "condition"),
        " stage 3",
    )
    w.gap()
    w.line("Summary of admission:")
    w.para(
        "Admitted with worsening ",
        M("shortness of breath", "observation"),
        ", ",
        M("wheeze", "physical_finding"),
        " and a ",
        M("productive cough", "observation"),
        ". ",
        M("Chest X-ray", "procedure"),
        " showed no ",
        M("consolidation", "physical_finding", negated=True),
        " and no ",
        M("pneumothorax", "condition", negated=True),
        ". She was treated with nebulised ",
        M("salbutamol", "medication"),
        ", ",
        M("prednisolone 30 mg once daily for 5 days", "medication"),
        " and ",
        M("doxycycline 100 mg once daily", "medication"),
        ". Her ",
        M("oxygen saturations were 88%", "vital_sign"),
        " on air on arrival, improving to ",
        M("94%", "vital_sign"),
        " on 2L.",
        width=90,
    )
    w.line(
        "Bloods on admission: ",
        M("WCC 13.4", "lab_result"),
        ", ",
        M("CRP 48", "lab_result"),
        ", ",
        M("K 5.4", "lab_result"),
        ", ",
        M("creatinine 142", "lab_result"),
        ".",
    )
    w.gap()
    w.line("Medication changes:")
    w.line(
        "STOPPED: ",
        M("Bendroflumethiazide 2.5mg OD", "medication"),
        " (",
        M("hyponatraemia", "condition"),
        ")",
    )
    w.line("STARTED: ", M("Prednisolone 30mg OD for 5 days", "medication"))
    w.gap()
    w.line("Medications on discharge:")
    w.line(M("Apixaban 5mg BD", "medication"))
    w.line(M("Bisoprolol 2.5mg OD", "medication"))
    w.line(M("Tiotropium 18 micrograms inhaled once daily", "medication"))
    w.line(M("Salbutamol 100 micrograms 2 puffs PRN", "medication"))
    w.line(M("Prednisolone 30mg OD", "medication"), " (3 more days)")
    w.gap()
    w.line("Allergies: ", M("nil known", "allergy", negated=True))
    w.line("Follow up: Respiratory clinic in 6 weeks. Return if breathing worsens.")
    for name, strength, frequency, status in (
        ("prednisolone", 30.0, "once daily", "active"),
        ("doxycycline", 100.0, "once daily", "active"),
        ("bendroflumethiazide", 2.5, "once daily", "stopped"),
        ("prednisolone", 30.0, "once daily", "new"),
        ("apixaban", 5.0, "twice daily", "active"),
        ("bisoprolol", 2.5, "once daily", "active"),
        ("tiotropium", 18.0, "once daily", "active"),
        ("salbutamol", 100.0, "as needed", "active"),
    ):
        w.record("medications", name=name, strength=strength, frequency=frequency, status=status)
    for test, value, unit in (
        ("white cell count", 13.4, "10*9/L"),
        ("CRP", 48.0, "mg/L"),
        ("potassium", 5.4, "mmol/L"),
        ("creatinine", 142.0, "umol/L"),
    ):
        w.record("lab_results", test=test, value=value, unit=unit)
    w.record("vitals", type="oxygen_saturation", value=88.0, unit="%")
    w.record("vitals", type="oxygen_saturation", value=94.0, unit="%")
    for name, status in (
        ("chronic obstructive pulmonary disease", "active"),
        ("atrial fibrillation", "active"),
        ("chronic kidney disease", "active"),
        ("pneumothorax", "negated"),
        ("hyponatraemia", "active"),
    ):
        w.record("conditions", name=name, status=status)
    w.record("procedures", name="chest X-ray")
    return w.build()


def _biochemistry() -> CorpusDocument:
    w = Writer("hand-biochemistry", "lab_report")
    w.line("NORTHFIELD INFIRMARY - CLINICAL BIOCHEMISTRY")
    w.line("Patient: OKAFOR, Grace DOB: 03.07.1961")
    w.line("Specimen received: 18.03.2024 09:12")
    w.line("Report date: 19.03.2024")
    w.document_date = "2024-03-19"
    w.gap()
    w.line("TEST RESULT FLAG UNITS REF RANGE")
    rows = (
        ("SODIUM 131 L mmol/L 133-146", "sodium", 131.0, "mmol/L", "L"),
        ("POTASSIUM 4.8 mmol/L 3.5-5.3", "potassium", 4.8, "mmol/L", "N"),
        ("UREA 9.1 H mmol/L 2.5-7.8", "urea", 9.1, "mmol/L", "H"),
        ("CREATININE 118 H umol/L 45-84", "creatinine", 118.0, "umol/L", "H"),
        ("eGFR 43 mL/min/1.73m2 >90", "eGFR", 43.0, "mL/min/{1.73_m2}", "L"),
        ("CALCIUM (ADJUSTED) 2.41 mmol/L 2.20-2.60", "calcium", 2.41, "mmol/L", "N"),
        ("PHOSPHATE 1.2 mmol/L 0.8-1.5", "phosphate", 1.2, "mmol/L", "N"),
        ("TSH 0.02 L mU/L 0.27-4.20", "TSH", 0.02, "m[IU]/L", "L"),
        ("FREE T4 31.4 H pmol/L 12.0-22.0", "free T4", 31.4, "pmol/L", "H"),
    )
    for text, test, value, unit, flag in rows:
        w.line(M(text, "lab_result"))
        w.record("lab_results", test=test, value=value, unit=unit, abnormal_flag=flag)
    w.gap()
    w.para(
        "Comment: Suppressed TSH with raised free T4, consistent with ",
        M("hyperthyroidism", "condition"),
        ". Suggest repeat thyroid function in 6 weeks and review of ",
        M("levothyroxine", "medication"),
        " dose.",
        width=88,
    )
    w.record("conditions", name="hyperthyroidism", status="active")
    w.record("medications", name="levothyroxine", status="active")
    return w.build()


def _export() -> CorpusDocument:
    w = Writer("hand-export", "medication_list")
    w.line("LEEDS ROAD SURGERY")
    w.line("Patient medication summary")
    w.line("Name: Mr Harold Finch")
    w.line("Printed: 22/01/2025")
    w.document_date = "2025-01-22"
    w.gap()
    w.line("Acute medication:")
    w.line(
        M("Nitrofurantoin 100mg m/r capsules, one to be taken twice a day for 3 days", "medication")
    )
    w.gap()
    w.line("Repeat medication:")
    meds = (
        (
            "Levothyroxine sodium 75microgram tablets, one to be taken each morning",
            "levothyroxine",
            75.0,
            "ug",
            "in the morning",
        ),
        (
            "Co-codamol 30mg/500mg tablets, two to be taken up to four times a day when required",
            "co-codamol",
            None,
            None,
            "four times daily as needed",
        ),
        (
            "Sertraline 50mg tablets, one to be taken once a day",
            "sertraline",
            50.0,
            "mg",
            "once daily",
        ),
        ("Mirtazapine 15mg tablets, one at night", "mirtazapine", 15.0, "mg", "at night"),
        (
            "Gaviscon Advance liquid, 10ml after meals and at bedtime",
            "gaviscon advance",
            None,
            None,
            None,
        ),
        ("Adcal-D3 chewable tablets, one twice a day", "adcal-d3", None, None, "twice daily"),
    )
    w.record(
        "medications",
        name="nitrofurantoin",
        strength=100.0,
        strength_unit="mg",
        frequency="twice daily",
    )
    for text, name, strength, unit, frequency in meds:
        w.line(M(text, "medication"))
        w.record(
            "medications", name=name, strength=strength, strength_unit=unit, frequency=frequency
        )
    w.gap()
    w.line("Allergies & sensitivities:")
    w.line(M("Erythromycin - vomiting", "allergy"))
    w.line(M("Elastoplast - skin reaction", "allergy"))
    w.record("allergies", substance="erythromycin", reaction="vomiting")
    w.record("allergies", substance="elastoplast", reaction="skin reaction")
    w.gap()
    w.line("Problems:")
    w.line(M("Hypothyroidism", "condition"), " (2009)")
    w.line(M("Depression", "condition"))
    w.line(M("Osteoarthritis", "condition"), " of knee")
    w.record("conditions", name="hypothyroidism", status="active", onset_date="2009")
    w.record("conditions", name="depression", status="active")
    w.record("conditions", name="osteoarthritis", status="active")
    w.gap()
    w.line("Immunisations:")
    w.line(M("Influenza vaccine", "immunization"), " 07/10/2024")
    w.line(M("COVID-19", "immunization"), " autumn booster 15/10/2024")
    w.record("immunizations", vaccine="influenza vaccine", date="2024-10-07")
    w.record("immunizations", vaccine="COVID-19 vaccine", date="2024-10-15")
    return w.build()


def _nursing() -> CorpusDocument:
    w = Writer("hand-nursing", "vitals_record")
    w.line("Ward 12 - Nursing observations")
    w.line("Date: 5 May 2024")
    w.document_date = "2024-05-05"
    w.gap()
    for time, bp, hr, rr, sats, temp in (
        ("06:00", (98, 60), 112, 24, 91, 38.9),
        ("10:00", (104, 66), 104, 22, 94, 38.1),
        ("14:00", (118, 72), 92, 18, 96, 37.4),
    ):
        w.line(
            f"{time} ",
            M(f"BP {bp[0]}/{bp[1]}", "vital_sign"),
            " ",
            M(f"HR {hr}", "vital_sign"),
            " ",
            M(f"RR {rr}", "vital_sign"),
            " ",
            M(f"SpO2 {sats}%", "vital_sign"),
            " ",
            M(f"Temp {temp}", "vital_sign"),
        )
        w.record("vitals", type="blood_pressure", systolic=float(bp[0]), diastolic=float(bp[1]))
        w.record("vitals", type="heart_rate", value=float(hr), unit="/min")
        w.record("vitals", type="respiratory_rate", value=float(rr), unit="/min")
        w.record("vitals", type="oxygen_saturation", value=float(sats), unit="%")
        w.record("vitals", type="temperature", value=temp, unit="Cel")
    w.gap()
    w.para(
        "Nursing note: Patient ",
        M("febrile", "observation"),
        " overnight and ",
        M("tachycardic", "physical_finding"),
        ". Complaining of ",
        M("rigors", "observation"),
        " and ",
        M("dysuria", "observation"),
        ". No ",
        M("vomiting", "observation", negated=True),
        ". Blood cultures taken. IV ",
        M("co-amoxiclav", "medication"),
        " given as prescribed. Urine dipstick positive for nitrites. ",
        M("Sepsis", "condition"),
        " screen positive; sepsis six completed.",
        width=86,
    )
    w.record("medications", name="co-amoxiclav", route="intravenous")
    w.record("conditions", name="sepsis", status="active")
    return w.build()


def _respiratory() -> CorpusDocument:
    w = Writer("hand-respiratory", "clinic_letter")
    w.line("Respiratory Outpatients, Kingsway University Hospital")
    w.line("Clinic date: 11 June 2024 Typed: 13 June 2024")
    w.document_date = "2024-06-11"
    w.gap()
    w.line("Dear Dr Wright,")
    w.line("Re: Ms Lucy Barnes, DOB 22/09/1988")
    w.line("Diagnosis: ", M("Asthma", "condition"), ", poorly controlled")
    w.gap()
    w.para(
        "Ms Barnes attended with her mother. She reports a nocturnal ",
        M("cough", "observation"),
        " and ",
        M("wheeze", "physical_finding"),
        " three nights a week but no ",
        M("haemoptysis", "observation", negated=True),
        ", ",
        M("weight loss", "observation", negated=True),
        " or ",
        M("night sweats", "observation", negated=True),
        ". ",
        M("Fever", "observation", negated=True),
        " was denied. She has never smoked. There is no history of ",
        M("eczema", "condition", negated=True),
        " or ",
        M("hay fever", "condition", negated=True),
        ". Her mother has ",
        M("asthma", "condition", family=True),
        ".",
        width=92,
    )
    w.para(
        M("Spirometry", "procedure"),
        " today showed an obstructive pattern (FEV1 68% predicted). FeNO 54 ppb.",
        width=92,
    )
    w.para(
        "Her inhaler technique was poor. She is currently using a ",
        M("beclometasone 100 micrograms inhaler, 2 puffs twice daily", "medication"),
        ", and ",
        M("salbutamol 100 micrograms as required", "medication"),
        ", up to 6 times a day. I have switched her to ",
        M("Fostair 100/6, 2 puffs twice daily", "medication"),
        ", and asked her to return in 3 months. Should her symptoms worsen, she may need a"
        " course of ",
        M("prednisolone", "medication", hypothetical=True),
        ".",
        width=92,
    )
    w.line("Yours sincerely,")
    w.line("Dr P Nair, Consultant Respiratory Physician")
    w.record(
        "medications",
        name="beclometasone",
        strength=100.0,
        strength_unit="ug",
        dose=2.0,
        dose_unit="{puff}",
        frequency="twice daily",
    )
    w.record("medications", name="salbutamol", strength=100.0, frequency="as needed")
    w.record("medications", name="fostair", frequency="twice daily", status="new")
    w.record("conditions", name="asthma", status="active")
    w.record("conditions", name="eczema", status="negated")
    w.record("conditions", name="hay fever", status="negated")
    w.record("conditions", name="asthma", status="family")
    w.record("procedures", name="spirometry")
    return w.build()


def handwritten() -> list[CorpusDocument]:
    """The six held-out documents written by hand (see the note above them)."""
    return [_referral(), _notification(), _biochemistry(), _export(), _nursing(), _respiratory()]
