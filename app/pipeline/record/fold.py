"""Adding a document to a record without reading the record's past mentions again.

An entry is a function of all its mentions (`merge_entry`), but most of its fields are
decided by a few of them: the newest mention, the first and last dated ones, the newest
that states a dose, the dated doses of the newest date, the earliest onset, the first
mention of each reaction, the newest result in each unit. These are the entry's
*witnesses*: merging the witnesses of mentions A with new mentions B decides every one
of those fields as merging A and B would. What grows with every mention is kept beside
them and added to: the sources (each mention's document and places) in the entry's
summary, and for a test how many results each unit holds (`Tally`), from which every
series' count follows. A test's series are not kept at all: they are merged from its
mentions when they are read.

`build` makes an entry's summary and state from all its mentions (a full rebuild, as
when a document leaves); `fold` adds a document's mentions to a summary and state.
tests/app/pipeline/test_record_fold.py checks that the two agree, for random splits of
random mentions.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from app.pipeline.record.mentions import (
    SOURCE_ORDER,
    Mention,
    mention_from_json,
    mention_to_json,
)
from app.pipeline.record.merge import (
    SEVERITY_ORDER,
    Entry,
    documents_dose,
    merge_entry,
    ordered,
    plain,
)
from app.pipeline.record.series import ObservationEntry, joins, point, reviewed_in

#: A unit of a test's results: how many join the trend, how many wait for review.
Tally = tuple[str | None, int, int]

#: The version of the rules that key and merge mentions (`mentions.py`, `merge.py`,
#: `series.py`, this module). Raise it with any change that would key or merge existing
#: mentions differently: a profile's record made under an older one (its
#: `user_profiles.record_rules`) is made again from its documents' records
#: (`app.outputs.record`). 1: revision 0013's. 2: the lexicon keys uncoded names, oxygen
#: saturation is 2708-6, entries keep a state.
RULES = 2


@dataclass(frozen=True)
class EntryState:
    """What an entry keeps to take more mentions: its witnesses, oldest first, and for a
    test its tallies by unit (sorted, `None` first)."""

    witnesses: tuple[Mention, ...]
    tallies: tuple[Tally, ...] = ()


def _newest(mentions: Sequence[Mention], keep: Callable[[Mention], bool]) -> list[Mention]:
    return next(([m] for m in reversed(mentions) if keep(m)), [])


def _oldest(mentions: Sequence[Mention], keep: Callable[[Mention], bool]) -> list[Mention]:
    return next(([m] for m in mentions if keep(m)), [])


def _dated(mention: Mention) -> bool:
    return not mention.source.undated


def _record(mention: Mention) -> Any:
    return mention.record


def _medication(mentions: list[Mention]) -> list[Mention]:
    dated = [m for m in mentions if _dated(m)]
    newest_date = dated[-1].source.date if dated else None
    return [
        *_newest(mentions, lambda m: bool(_record(m).rxnorm)),
        *_newest(mentions, documents_dose),
        *(m for m in dated if m.source.date == newest_date and documents_dose(m)),
    ]


def _condition(mentions: list[Mention]) -> list[Mention]:
    onsets = [_record(m).onset_date for m in mentions if _record(m).onset_date]
    earliest = min(onsets) if onsets else None
    return [
        *_newest(mentions, lambda m: bool(_record(m).code)),
        *_newest(mentions, lambda m: bool(_record(m).icd10cm)),
        *_oldest(mentions, lambda m: earliest is not None and _record(m).onset_date == earliest),
    ]


def _allergy(mentions: list[Mention]) -> list[Mention]:
    firsts: dict[str | None, Mention] = {}
    for mention in mentions:
        firsts.setdefault(_record(mention).reaction, mention)
    severities = [_record(m).severity for m in mentions if _record(m).severity in SEVERITY_ORDER]
    worst = max(severities, key=SEVERITY_ORDER.index) if severities else None
    return [
        *(m for reaction, m in firsts.items() if reaction),
        *_oldest(mentions, lambda m: worst is not None and _record(m).severity == worst),
    ]


def _observation(key: str, mentions: list[Mention]) -> list[Mention]:
    """Per unit: the newest result in the trend, the newest with a value and the newest
    with a reference range (what decides the series, their units, ranges and latest)."""
    chosen: dict[tuple[str | None, str], Mention] = {}
    for mention in mentions:  # oldest first: the newest of each kind stays
        result = point(key, mention)
        if result.needs_review:  # the newest of all (a witness of every entry) decides
            continue  # the unit of a test with nothing but results to review
        chosen[(result.unit, "trend")] = mention
        if result.value is not None:
            chosen[(result.unit, "valued")] = mention
        if result.reference_low is not None or result.reference_high is not None:
            chosen[(result.unit, "ranged")] = mention
    return list(chosen.values())


def _identity(mention: Mention) -> tuple[str, str]:
    return (mention.source.shell_file_id, mention.source.record_id)


def witnesses(section: str, key: str, mentions: Iterable[Mention]) -> tuple[Mention, ...]:
    """The mentions that decide every field of the entry but its sources and counts."""
    chosen = ordered(mentions)
    picked = [
        *chosen[-1:],
        *_oldest(chosen, _dated),
        *_newest(chosen, _dated),
    ]
    if section == "medications":
        picked += _medication(chosen)
    elif section == "conditions":
        picked += _condition(chosen)
    elif section == "allergies":
        picked += _allergy(chosen)
    elif section == "observations":
        picked += _observation(key, chosen)
    unique = {_identity(m): m for m in picked}
    return tuple(ordered(unique.values()))


def tallies(key: str, mentions: Iterable[Mention]) -> tuple[Tally, ...]:
    counts: Counter[tuple[str | None, bool]] = Counter()
    for mention in mentions:
        result = point(key, mention)
        counts[(result.unit, result.needs_review)] += 1
    return _sorted_tallies(
        (unit, counts[(unit, False)], counts[(unit, True)]) for unit in {u for u, _ in counts}
    )


def _sorted_tallies(rows: Iterable[Tally]) -> tuple[Tally, ...]:
    merged: dict[str | None, tuple[int, int]] = {}
    for unit, trend, review in rows:
        before = merged.get(unit, (0, 0))
        merged[unit] = (before[0] + trend, before[1] + review)
    return tuple(
        (unit, trend, review)
        for unit, (trend, review) in sorted(
            merged.items(), key=lambda item: (item[0] is not None, item[0] or "")
        )
    )


def _observation_summary(entry: ObservationEntry, counts: tuple[Tally, ...]) -> dict[str, Any]:
    """The test as the record lists it: its series' units, counts and ranges, no points."""
    data: dict[str, Any] = {
        name: plain(value) for name, value in entry.__dict__.items() if name != "series"
    }
    units = [series.unit for series in entry.series]
    in_trend = [0] * len(units)
    to_review = [0] * len(units)
    for unit, trend, review in counts:
        if trend:  # a result joins the first series whose unit it converts to
            index = next(i for i, u in enumerate(units) if joins(unit, u, entry.key))
            in_trend[index] += trend
        for index in range(len(units)):
            if review and reviewed_in(unit, units, index, entry.key):
                to_review[index] += review
    data["count"] = sum(in_trend)
    data["series"] = [
        {
            "unit": series.unit,
            "count": in_trend[index],
            "review_count": to_review[index],
            "reference_low": series.reference_low,
            "reference_high": series.reference_high,
        }
        for index, series in enumerate(entry.series)
    ]
    return data


def summary(entry: Entry, state: EntryState) -> dict[str, Any]:
    """The entry as the record lists it (`plain` data)."""
    if isinstance(entry, ObservationEntry):
        return _observation_summary(entry, state.tallies)
    data: dict[str, Any] = plain(entry)
    return data


def build(
    section: str, key: str, mentions: Sequence[Mention]
) -> tuple[dict[str, Any], EntryState] | None:
    """The entry's summary and state from all its mentions; None without any."""
    entry = merge_entry(section, key, mentions)
    if entry is None:
        return None
    counts = tallies(key, mentions) if section == "observations" else ()
    state = EntryState(witnesses(section, key, mentions), counts)
    return summary(entry, state), state


_source_order = operator.itemgetter(*SOURCE_ORDER)  # `Source.order` of plain data


def _with_sources(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for source in (*old, *new):
        unique.setdefault((source["shell_file_id"], source["record_id"]), source)
    return sorted(unique.values(), key=_source_order)


def fold(
    section: str,
    key: str,
    before: tuple[dict[str, Any], EntryState],
    mentions: Sequence[Mention],
) -> tuple[dict[str, Any], EntryState]:
    """The entry's summary and state once `mentions` (new to it) are added."""
    old_summary, old_state = before
    deciding = (*old_state.witnesses, *mentions)
    entry = merge_entry(section, key, deciding)
    if entry is None:
        return before
    counts = old_state.tallies
    if section == "observations":
        counts = _sorted_tallies((*counts, *tallies(key, mentions)))
    state = EntryState(witnesses(section, key, deciding), counts)
    data = summary(entry, state)
    if "sources" in data:
        data["sources"] = _with_sources(old_summary.get("sources", []), data["sources"])
    return data, state


def state_to_json(state: EntryState) -> dict[str, Any]:
    return {
        "witnesses": [mention_to_json(m) for m in state.witnesses],
        "tallies": [list(row) for row in state.tallies],
    }


def state_from_json(data: dict[str, Any]) -> EntryState:
    """The state `state_to_json` wrote. Raises ValueError (or KeyError, TypeError) for
    data that is not a state of this version."""
    return EntryState(
        tuple(mention_from_json(m) for m in data["witnesses"]),
        tuple((unit, int(trend), int(review)) for unit, trend, review in data["tallies"]),
    )
