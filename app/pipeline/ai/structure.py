"""What a document's structure says about a mention, whatever its name.

A list under a heading names things of the heading's kind, one an item: every line
under "Medications" is a medicine ("Camila 28 Day Pack" as much as "Metformin 500 mg"),
every line under "Immunizations" a vaccine (CVX's "Influenza, seasonal, injectable,
preservative free"), every line under "Past surgical history" a procedure. `items`
reads such lists:

- a list whose heading stands alone on its line has an item a line (commas belong to
  the item: "Td (adult), 2 Lf tetanus toxoid, preservative free, adsorbed");
- a heading with text after it on the same line ("MEDICATIONS: Lasix 40 mg daily,
  Coreg, and Flomax.") starts an inline list, split at commas, semicolons, "and" and
  sentence ends, outside brackets;
- a leading date, bullet, number or status ("2019-02-03 [CURRENT] :") is not part of
  the item, nor are opening words such as "significant for" or "status post";
- a piece that reads as prose (a pronoun or a verb such as "continue", more than
  eight words) or says there is nothing ("none", "nil", "unremarkable") is no item.

A SNOMED CT semantic tag written after an item decides its type wherever the item
stands: "(disorder)" a condition, "(finding)" or "(situation)" an observation,
"(procedure)" a procedure, "(substance)" an allergy inside an allergy list.

Anywhere in the text, what names look like: `patterns` finds a procedure by its word's
form ("-ectomy", "-scopy", "bariatric surgery"), a vaccine by its head word ("...
vaccine", "flu shot"); `allergies` an allergy by its ("Egg allergy"); `results` a line
of a results table whatever its test ("Lipase 48 U/L").
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass

from app.pipeline.ai.lab_values import result_line
from app.pipeline.ai.text import Analysis

# The entity type a list section's items take.
LIST_TYPES = {
    "medications": "medication",
    "discharge_medications": "medication",
    "stopped_medications": "medication",
    "diagnosis": "condition",
    "past_medical_history": "condition",
    "procedures": "procedure",
    "past_surgical_history": "procedure",
    "immunizations": "immunization",
    "allergies": "allergy",
}
SEMANTIC_TAGS = {
    "disorder": "condition",
    "morphologic abnormality": "condition",
    "finding": "observation",
    "situation": "observation",
    "procedure": "procedure",
}
MAX_ITEM_WORDS = 8  # in an inline list; a line of a list may hold more ("Td (adult), 2 Lf ...")
MAX_LINE_WORDS = 14

_TAG = re.compile(r"\s*\((?P<tag>[a-z][a-z /]+)\)\s*$")
_LEAD = re.compile(
    r"(?:\s|[-\u2022*\u2013\u25cf\u25aa>]|\d{1,2}[.)](?!\d)|\(?[a-z][.)](?=\s)"
    r"|\d{4}-\d{2}-\d{2}|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|\[[A-Z ]+\]|:(?=\s)|-(?=\s))*"
)
_OPENING = re.compile(
    r"(?i:(?:(?:also|and|or|plus)\s+)?(?:(?:significant|positive|notable|remarkable)\s+for"
    r"|(?:a\s+)?(?:past\s+)?(?:history|hx)\s+of|h/o|s/p|status\s+post|includes?|including"
    r"|known|recent|previous|prior|chronic\s+use\s+of|on)\s+|(?:also|and|or|plus)\s+)"
)
_NOTHING = re.compile(
    r"(?i:none|nil|nil\s+known|nothing|unremarkable|non-?contributory|negative|not\s+applicable"
    r"|n/a|as\s+above|see\s+(?:above|below)|unknown|no\s+.*|denies.*|not\s+.*|other|n\.?k\.?d\.?a"
    r"|nka|no\s+known.*)[.\s]*"
)
_PROSE = re.compile(
    r"(?i:he|she|they|it|we|i|you|his|her|their|the\s+patient|patient|this|that|there|which|who"
    r"|continue[sd]?|start(?:ed)?|stop(?:ped)?|increase[sd]?|decrease[sd]?|reduce[sd]?"
    r"|check|monitor|follow|refer(?:red)?|discuss(?:ed)?|consider|will|plan(?:ned)?|advised?"
    r"|recommend(?:ed)?|obtain|repeat|return|call|see|seen|please|if|when|because|was|is|are"
    r"|diagnosed|dx|since|from"
    r"|were|has|had|have|takes?|taking|reports?|states?|denies)\b"
)
_VERB = re.compile(
    r"(?i:\b(?:is|was|were|are|has|had|have|takes|taking|reports|states|denies|will|should"
    r"|continue|continued|increase|decrease|start|started|stop|stopped|check|monitor|given"
    r"|tolerated|administered|declined|refused|deferred|offered)\b)"
)
# A form's field ("Date printed: 18-Nov-2024", "NHS number: 896 333 8652") is no item.
_FIELD = re.compile(r"[A-Za-z][A-Za-z .']{1,30}:\s*(?:\S+\s*){0,6}$")
_QUALIFIERS = re.compile(
    r"(?i:(?:poorly|well|partially|fully|not|currently|previously|recently|newly|very"
    r"|controlled|uncontrolled|stable|unstable|mild|moderate|severe|acute|chronic|resolved"
    r"|resolving|improving|improved|worsening|worse|better|left|right|bilateral|unspecified"
    r"|recurrent|active|inactive|in|remission|new|known|suspected|probable|possible|confirmed"
    r"|primary|secondary|diet|insulin|treated|untreated|on|treatment|managed|medically"
    r"|complicated|uncomplicated|with|without|complications|exacerbation|episode|episodes"
    r"|stage|type|grade|class|group|gold|[a-e]|[0-9ivx]+[ab]?)\b[\s/-]*)+"
)
# A table's header row ("Drug  Dose  Route  Frequency") and a bare date are no items.
_TABLE_HEADER = re.compile(
    r"(?i:(?:date|dates|condition|conditions|comment|comments|drug|drugs|dose|doses|route"
    r"|frequency|status|supply|medication|medications|name|reaction|reactions|severity|vaccine"
    r"|vaccines|given|notes?|indication|start|started|stop|stopped|prescriber|quantity|type"
    r"|onset|problem|problems|code|description|allergen|substance|last|next|due|taking|details"
    r"|instructions|sig|strength|form|directions|source|site|lot|by|dose\s*\d)\b[\s/|]*){2,}"
)
_MONTHS = re.compile(r"(?i:\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b)")
_NAME_WORD = re.compile(r"[A-Za-z]{3}")
_SPLIT = re.compile(r";|,(?!\d)|\.(?=\s|$)|\s(?:and|&)\s(?!\d)")

# Procedures by the form of their word, vaccines by their head word.
# Each pattern finds a head word; the words before it that belong to the name are taken
# in after (a regex that tried every word as a name's start would read each page 10 times).
_PROCEDURE_HEAD = re.compile(
    r"(?i:\b[a-z]{3,}(?:ectomy|ectomies|otomy|otomies|ostomy|ostomies|plasty|plasties|scopy"
    r"|scopies|graphy|gram|pexy|rrhaphy|centesis|desis|tripsy|ablation)\b"
    r"|\b(?:biopsy|biopsies|transplant|transplantation|bypass\s+graft|replacement|resection"
    r"|amputation|catheteri[sz]ation|intubation|cardioversion|dialysis|transfusion|angioplasty"
    r"|stent\s+insertion|vasectomy|surgery|insertion|placement|implantation|counsell?ing)\b"
    r"|\b(?:breast|pelvic|eye|foot|rectal|skin|dental|hearing|diabetic\s+foot|prostate)"
    r"\s+(?:exam|examination|check|screen|screening)\b)"
)
# "surgery", "insertion", "placement" and "counselling" name a procedure only after what
# they act on ("bariatric surgery", "IUD insertion", "genetic counselling").
_NEEDS_OBJECT = re.compile(r"(?i:surgery|insertion|placement|implantation|counsell?ing)")
_SUFFIXED = re.compile(r"(?i:[a-z]+(?:y|ies|gram|ation))$")
_PROCEDURE_MODIFIERS = re.compile(
    r"(?i:(?:(?:laparoscopic|robotic|open|total|partial|radical|bilateral|left|right|diagnostic"
    r"|upper|lower|flexible|elective|emergency|transurethral|percutaneous|endoscopic"
    r"|arthroscopic|coronary|cardiac|abdominal|vaginal)\s+){1,3})$"
)
_PROCEDURE_OBJECT = re.compile(r"(?i:(?:[a-z]+\s+){1,2})$")
_OBJECT_WORD = re.compile(
    r"(?<![\w-])(?!(?:the|a|an|of|for|and|or|to|no|any|his|her|their|had|has|have|after|before"
    r"|post|prior|previous|recent|urgent|planned|schedule|scheduled|needs|needed|require"
    r"|requires|required|under|underwent|undergo|from|with|without|since|during|on|in|at"
    r"|is|was|were|be|been|successful|uncomplicated|elective|emergency|further|major|minor"
    r"|same|day|this|that)\s)[A-Za-z][\w/&-]*\s+$",
    re.IGNORECASE,
)
_VACCINE_HEAD = re.compile(
    r"(?i:\b(?:vaccines?|vaccinations?|immuni[sz]ations?|toxoid)\b"
    r"|\b(?:flu|influenza|tetanus|covid(?:-19)?|pneumonia|shingles)[ \t]+(?:shot|jab|booster)\b)"
)
_ALLERGY_HEAD = re.compile(r"(?i:\ballerg(?:y|ies)\b|\bintolerance\b)")
_NOT_AN_ALLERGEN = re.compile(
    r"(?i:no|known|any|drug|drugs|food|foods|vaccine|medication|medicine|other|seasonal|an|a|the"
    r"|her|his|their|of|with|and|or|to|has|had|have|severe|mild|moderate|suspected|reported"
    r"|documented|true|previous|history|new|multiple|nkda|nka|nil|none|\W+|\d+)"
)
_NAME_BEFORE = re.compile(r"(?:[A-Za-z0-9\-]+[ \t]+){1,3}$")
_ALLERGIES = re.compile(r"\s*(?i:allerg|reaction|hesitan|exempt|contraindicat)")
_NOT_A_VACCINE_LEAD = re.compile(
    r"(?i:the|a|an|no|any|his|her|their|its|of|for|and|or|to|with|received|receive|given|give"
    r"|had|has|have|got|gets|declined|due|last|annual|yearly|first|second|third|booster|dose"
    r"|known|certificate|record|history|offer|offered|this|year's|today)"
)


@dataclass(frozen=True)
class Item:
    start: int
    end: int
    type: str
    tagged: bool = False  # a semantic tag named the type
    whole_line: bool = False  # a line of a list: one thing, whatever names are inside it


def items(analysis: Analysis) -> Iterator[Item]:
    """The items of every list section, each with the type its section (or tag) gives."""
    text = analysis.text
    for section in analysis.sections:
        kind = LIST_TYPES.get(section.name)
        if kind is None:
            continue
        body_start = section.header_end
        header_line = analysis.line_at(section.start)
        inline = bool(text[body_start : header_line.end].strip(" \t:-\u2013"))
        if inline:
            pieces = list(_pieces(text, body_start, section.end))
        else:
            pieces = list(_lines(analysis, max(body_start, header_line.end), section.end))
        words = MAX_ITEM_WORDS if inline else MAX_LINE_WORDS
        for start, end in pieces:
            item = _item(text, start, end, kind, words)
            if item is not None:
                yield dataclasses.replace(item, whole_line=not inline)


def _lines(analysis: Analysis, start: int, end: int) -> Iterator[tuple[int, int]]:
    position = start
    while position < end:
        line = analysis.line_at(position)
        yield max(line.start, start), min(line.end, end)
        position = line.end + 1


def _pieces(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """Pieces of an inline list, split outside brackets."""
    depth, piece = 0, start
    position = start
    while position < end:
        char = text[position]
        if char in "([":
            depth += 1
        elif char in ")]":
            depth = max(0, depth - 1)
        elif depth == 0:
            match = _SPLIT.match(text, position, end)
            if match and not _decimal_point(text, position):
                yield piece, position
                piece = position = match.end()
                continue
        position += 1
    yield piece, end


def _decimal_point(text: str, position: int) -> bool:
    return (
        text[position] == "."
        and position > 0
        and text[position - 1].isdigit()
        and text[position + 1 : position + 2].isdigit()
    )


def _item(text: str, start: int, end: int, kind: str, words: int) -> Item | None:
    """The item in text[start:end] once its lead and opening words are cut, or None."""
    lead = _LEAD.match(text, start, end)
    start = lead.end() if lead else start
    while True:
        opening = _OPENING.match(text, start, end)
        if not opening or opening.end() == start:
            break
        start = opening.end()
    while end > start and text[end - 1] in " \t\n.,;:":
        end -= 1
    piece = text[start:end]
    if not re.search(r"[A-Za-z]{3}", piece) or _NOTHING.fullmatch(piece):
        return None
    tag = _TAG.search(piece)
    tagged = SEMANTIC_TAGS.get(tag.group("tag")) if tag else None
    if tag is not None and tag.group("tag") == "substance" and kind == "allergy":
        tagged = "allergy"
    if tagged is not None:
        return Item(start, end, tagged, tagged=True)
    return Item(start, end, kind) if _reads_as_item(piece, kind, words) else None


def _reads_as_item(piece: str, kind: str, words: int) -> bool:
    """Whether a piece of a list reads as one thing named, not prose, a form's field, a
    table's header, a date or a qualifier ("poorly controlled")."""
    return not (
        len(piece.split()) > words
        or _PROSE.match(piece)
        or _FIELD.match(piece)
        or _TABLE_HEADER.fullmatch(piece)
        or not _NAME_WORD.search(_MONTHS.sub(" ", piece))
        or (kind != "medication" and _VERB.search(piece))
        or _QUALIFIERS.fullmatch(piece)
    )


def patterns(text: str) -> Iterator[Item]:
    """Procedures and vaccines found by the form of their words."""
    for match in _PROCEDURE_HEAD.finditer(text):
        before = text[max(0, match.start() - 48) : match.start()]
        suffixed = _SUFFIXED.search(match.group()) is not None
        lead = (_PROCEDURE_MODIFIERS if suffixed else _PROCEDURE_OBJECT).search(before)
        if lead is not None and _NEEDS_OBJECT.fullmatch(match.group()):
            lead = _OBJECT_WORD.search(before)  # its object: one word, not a verb or article
        if _NEEDS_OBJECT.fullmatch(match.group()) and lead is None:
            continue
        yield Item(match.start() - (len(lead.group()) if lead else 0), match.end(), "procedure")
    for match in _VACCINE_HEAD.finditer(text):
        start = match.start()
        if not re.search(r"\s", match.group()):  # "... vaccine": the name is before it
            named = _NAME_BEFORE.search(text, max(0, match.start() - 48), match.start())
            if named is None:
                continue
            start = named.start()
            # the name starts after the last word that is none of it ("received the", "no known")
            for word in re.finditer(r"\S+", text[named.start() : match.start()]):
                if _NOT_A_VACCINE_LEAD.fullmatch(word.group()):
                    start = named.start() + word.end()
        while start < match.end() and text[start].isspace():
            start += 1
        if (
            re.search(r"\S+[ \t]+\S", text[start : match.end()])
            and _word_edges(text, start, match.end())
            and not _ALLERGIES.match(text, match.end())
        ):
            yield Item(start, match.end(), "immunization")


def results(text: str) -> Iterator[Item]:
    """Lines of a results table, whatever their test: a name, then a value in a
    laboratory's unit (`lab_values.result_line`)."""
    position = 0
    for line in text.split("\n"):
        found = result_line(text, position, position + len(line))
        if found is not None:
            yield Item(found[0], found[2], "lab_result")
        position += len(line) + 1


def allergies(text: str) -> Iterator[Item]:
    """Allergies named by their head word: "Egg allergy", "lactose intolerance"."""
    for match in _ALLERGY_HEAD.finditer(text):
        named = _NAME_BEFORE.search(text, max(0, match.start() - 32), match.start())
        if named is None:
            continue
        words = named.group().split()
        while words and _NOT_AN_ALLERGEN.fullmatch(words[0]):
            words = words[1:]
        if words and not _NOT_AN_ALLERGEN.fullmatch(words[-1]):
            start = match.start() - len(" ".join(words)) - 1
            if text[start : match.start()].strip() == " ".join(words):
                yield Item(start, match.end(), "allergy")


def _word_edges(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() or after.isalnum())
