"""The record's FHIR Bundle is written as plain JSON (fhir.resources' models took 40 s
for a profile of 1,000 documents). For records of every kind, it must be exactly what
fhir.resources gives back once it has validated it as R4, and parse in fhirclient."""

from __future__ import annotations

import json
import random
import uuid
from collections import defaultdict
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhirclient.models.bundle import Bundle as ClientBundle

from app.outputs.record_fhir import record_bundle
from app.pipeline.record.fold import build
from app.pipeline.record.mentions import SECTIONS, Mention
from app.pipeline.record.merge import merge_entry, plain
from tests.support.records import random_document

KINDS = {
    "Patient",
    "MedicationStatement",
    "Condition",
    "AllergyIntolerance",
    "Immunization",
    "Procedure",
    "Observation",
    "DocumentReference",
    "Provenance",
}


def record_of(mentions: list[Mention]) -> dict[str, list[dict[str, Any]]]:
    """What `app.outputs.record.full_record` reads: each entry's summary, and each test
    in full."""
    groups: dict[tuple[str, str], list[Mention]] = defaultdict(list)
    for mention in mentions:
        groups[(mention.section, mention.key)].append(mention)
    record: dict[str, list[dict[str, Any]]] = {section: [] for section in SECTIONS}
    for (section, key), group in sorted(groups.items()):
        if section == "observations":
            record[section].append(plain(merge_entry(section, key, group)))
        else:
            built = build(section, key, group)
            assert built is not None
            record[section].append(built[0])
    return record


@pytest.mark.parametrize("seed", range(6))
def test_the_bundle_is_what_fhir_resources_gives_back_once_it_has_validated_it(
    seed: int,
) -> None:
    rng = random.Random(seed)
    mentions = [m for number in range(12) for m in random_document(rng, number)]
    profile = SimpleNamespace(
        id=uuid.UUID(int=1000 + seed), display_name="Test Patient", date_of_birth=date(1970, 5, 1)
    )
    bundle = json.loads(json.dumps(record_bundle(profile, record_of(mentions))))

    assert Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True) == bundle
    parsed = ClientBundle(bundle, strict=True)
    assert {entry.resource.resource_type for entry in parsed.entry} == KINDS
