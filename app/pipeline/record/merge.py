"""The profile's record: every document's mentions merged into one entry per key.

`merge_entry(section, key, mentions)` merges the mentions of one entry; `merge_record`
groups a profile's mentions and merges each group. Both are pure: the same mentions give
the same record whatever order they come in (they are sorted by `Source.order`: the
document's date, an undated one's upload, then ids).

- **Medications**: strength, dose, route and frequency as last documented; status
  (active, stopped, unknown) from the newest *dated* mention (the newest undated one if
  none is dated); first and last seen over dated mentions. Different doses in mentions
  of the newest date are a conflict: listed, and no dose is chosen.
- **Conditions**: status from the newest mention, the earliest onset given.
- **Allergies**: every reaction documented; the most severe severity.
- **Immunizations, procedures**: one entry per event (name and date).
- **Observations**: `app.pipeline.record.series`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from app.pipeline.ai import types as ai
from app.pipeline.record.mentions import SECTIONS, Mention, Seen, Source, seen
from app.pipeline.record.series import ObservationEntry, merge_observations

MEDICATION_STATUS = {
    "active": "active",
    "new": "active",
    "changed": "active",
    "stopped": "stopped",
    "not_taking": "stopped",
}
SEVERITY_ORDER = ("mild", "moderate", "severe")


@dataclass(frozen=True)
class DoseSeen:
    strength: float | None
    strength_unit: str | None
    dose: float | None
    dose_unit: str | None
    route: str | None
    frequency: str | None
    shell_file_id: str
    record_id: str
    date: str


@dataclass(frozen=True)
class MedicationEntry:
    key: str
    name: str
    rxnorm: str | None
    status: str  # active, stopped, unknown
    strength: float | None
    strength_unit: str | None
    dose: float | None
    dose_unit: str | None
    route: str | None
    frequency: str | None
    seen: Seen
    conflict: tuple[DoseSeen, ...]  # different doses on the newest date; none chosen
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class ConditionEntry:
    key: str
    name: str
    snomed: str | None
    icd10cm: str | None
    status: str  # active, resolved, history
    onset_date: str | None
    seen: Seen
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class AllergyEntry:
    key: str
    substance: str
    reactions: tuple[str, ...]
    severity: str | None
    seen: Seen
    sources: tuple[Source, ...]


@dataclass(frozen=True)
class EventEntry:
    """An immunization (`code` its CVX) or a procedure, on `date` (None: not stated)."""

    key: str
    name: str
    code: str | None
    date: str | None
    seen: Seen
    sources: tuple[Source, ...]


Entry = MedicationEntry | ConditionEntry | AllergyEntry | EventEntry | ObservationEntry


@dataclass(frozen=True)
class MergedRecord:
    medications: tuple[MedicationEntry, ...] = ()
    conditions: tuple[ConditionEntry, ...] = ()
    allergies: tuple[AllergyEntry, ...] = ()
    immunizations: tuple[EventEntry, ...] = ()
    procedures: tuple[EventEntry, ...] = ()
    observations: tuple[ObservationEntry, ...] = ()


def plain(value: Any) -> Any:
    """An entry as plain dicts and lists (what `ai.to_json` gives, faster: an entry of a
    test with years of results holds thousands of points)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is tuple or kind is list:
        return [item if type(item) in _SCALARS else plain(item) for item in value]
    if hasattr(value, "__dataclass_fields__"):
        return {
            name: item if type(item) in _SCALARS else plain(item)
            for name, item in value.__dict__.items()
        }
    return value


_SCALARS = frozenset({str, int, float, bool, type(None)})


def ordered(mentions: Iterable[Mention]) -> list[Mention]:
    return sorted(mentions, key=lambda m: m.source.order())


def _sources(mentions: list[Mention]) -> tuple[Source, ...]:
    unique: dict[tuple[str, str], Source] = {}
    for mention in mentions:
        unique.setdefault((mention.source.shell_file_id, mention.source.record_id), mention.source)
    return tuple(unique.values())


def _newest_deciding(mentions: list[Mention]) -> Mention:
    """The newest dated mention, or the newest undated one when none is dated."""
    dated = [m for m in mentions if not m.source.undated]
    return (dated or mentions)[-1]


def _dose(mention: Mention) -> DoseSeen:
    m: Any = mention.record
    return DoseSeen(
        m.strength,
        m.strength_unit,
        m.dose,
        m.dose_unit,
        m.route,
        m.frequency,
        mention.source.shell_file_id,
        mention.source.record_id,
        mention.source.date,
    )


def _dose_of(dose: DoseSeen) -> tuple[Any, ...]:
    return (dose.strength, dose.strength_unit, dose.dose, dose.dose_unit, dose.frequency)


def _conflict(mentions: list[Mention]) -> tuple[DoseSeen, ...]:
    """Different doses documented on the newest date (dated documents only)."""
    dated = [m for m in mentions if not m.source.undated]
    if not dated:
        return ()
    newest = dated[-1].source.date
    doses = [_dose(m) for m in dated if m.source.date == newest and documents_dose(m)]
    return tuple(doses) if len({_dose_of(d) for d in doses}) > 1 else ()


def documents_dose(mention: Mention) -> bool:
    record: Any = mention.record
    return record.strength is not None or record.dose is not None


def merge_medication(key: str, mentions: list[Mention]) -> MedicationEntry:
    last: Any = mentions[-1].record
    deciding: Any = _newest_deciding(mentions).record
    conflict = _conflict(mentions)
    named = next((m.record for m in reversed(mentions) if getattr(m.record, "rxnorm", None)), last)
    # The dose as last documented: the newest mention that states one (a list of
    # problems may name the drug alone).
    dosed = [m.record for m in mentions if documents_dose(m)]
    chosen: Any = None if conflict else (dosed[-1] if dosed else last)
    return MedicationEntry(
        key=key,
        name=last.name,
        rxnorm=getattr(named, "rxnorm", None),
        status=MEDICATION_STATUS.get(deciding.status, "unknown"),
        strength=chosen.strength if chosen else None,
        strength_unit=chosen.strength_unit if chosen else None,
        dose=chosen.dose if chosen else None,
        dose_unit=chosen.dose_unit if chosen else None,
        route=chosen.route if chosen else last.route,
        frequency=chosen.frequency if chosen else None,
        seen=seen(mentions),
        conflict=conflict,
        sources=_sources(mentions),
    )


def merge_condition(key: str, mentions: list[Mention]) -> ConditionEntry:
    records: list[Any] = [m.record for m in mentions]
    deciding: Any = _newest_deciding(mentions).record
    onsets = sorted(r.onset_date for r in records if r.onset_date)
    return ConditionEntry(
        key=key,
        name=records[-1].name,
        snomed=next((r.code for r in reversed(records) if r.code), None),
        icd10cm=next((r.icd10cm for r in reversed(records) if r.icd10cm), None),
        status=deciding.status,
        onset_date=onsets[0] if onsets else None,
        seen=seen(mentions),
        sources=_sources(mentions),
    )


def merge_allergy(key: str, mentions: list[Mention]) -> AllergyEntry:
    records: list[Any] = [m.record for m in mentions]
    reactions = dict.fromkeys(r.reaction for r in records if r.reaction)
    severities = [r.severity for r in records if r.severity in SEVERITY_ORDER]
    return AllergyEntry(
        key=key,
        substance=records[-1].substance,
        reactions=tuple(reactions),
        severity=max(severities, key=SEVERITY_ORDER.index) if severities else None,
        seen=seen(mentions),
        sources=_sources(mentions),
    )


def merge_event(key: str, mentions: list[Mention]) -> EventEntry:
    last: Any = mentions[-1].record
    immunization = isinstance(last, ai.Immunization)
    return EventEntry(
        key=key,
        name=last.vaccine if immunization else last.name,
        code=last.cvx if immunization else None,
        date=last.date,
        seen=seen(mentions),
        sources=_sources(mentions),
    )


def merge_entry(section: str, key: str, mentions: Iterable[Mention]) -> Entry | None:
    """The entry `key` of `section` from its mentions (any order); None without any."""
    chosen = ordered(m for m in mentions if m.section == section and m.key == key)
    if not chosen:
        return None
    if section == "medications":
        return merge_medication(key, chosen)
    if section == "conditions":
        return merge_condition(key, chosen)
    if section == "allergies":
        return merge_allergy(key, chosen)
    if section in ("immunizations", "procedures"):
        return merge_event(key, chosen)
    if section == "observations":
        return merge_observations(key, chosen)
    raise ValueError(f"unknown section {section!r}")


def merge_record(mentions: Iterable[Mention]) -> MergedRecord:
    """The whole record of a profile from all its documents' mentions."""
    groups: dict[tuple[str, str], list[Mention]] = defaultdict(list)
    for mention in mentions:
        groups[(mention.section, mention.key)].append(mention)
    sections: dict[str, list[Any]] = {section: [] for section in SECTIONS}
    for (section, key), group in sorted(groups.items()):
        entry = merge_entry(section, key, group)
        if entry is not None:
            sections[section].append(entry)
    return MergedRecord(**{name: tuple(entries) for name, entries in sections.items()})
