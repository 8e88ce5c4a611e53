"""The AI lane's three stages as plain functions of a provider (no Celery, Flask or database).

    provider = make_provider("local")            # or "openai", base_url=..., api_key=..., model=...
    entities, usage1 = provider.detect_entities(doc)          # Pass 1: doc is a DocumentText
    records, usage2 = provider.enrich(doc, entities)          # Pass 2
    narrative, usage3 = provider.narrate(records, entities)   # Pass 3

Every result is a frozen dataclass from `types.py`; `to_json` / `from_json` turn
them into JSON-ready data and back. Errors are the pipeline's own
(`app.pipeline.errors`) plus `errors.py` here.

Modules: `types` (results), `provider` (the interface, `make_provider`), `rate_limiter`
(what admits a remote model's requests), `local` (the offline default: `lexicon`,
`text`, `context`; Pass 1 in `detect`, `name_rules`, `other_names`, `candidates`;
Pass 2 in `enrich` over `record_reader`, `medication_records`, `measurement_records`
and `history_records`, which read values with `grammar`, `doses`, `lab_values`,
`vital_readings` and `dates`; Pass 3 in `narrate`; data in `data/`), `openai_compat`
(a remote model over the chat-completions API: `chat_completions`, `chat_mapping`,
`schemas`).
"""

from __future__ import annotations

from app.pipeline.ai.errors import AIRequestRejected, InvalidAIResponse, ProviderRateLimited
from app.pipeline.ai.provider import Provider, make_provider
from app.pipeline.ai.rate_limiter import RateLimiter
from app.pipeline.ai.types import (
    Allergy,
    ClinicalRecords,
    Condition,
    Entity,
    Immunization,
    LabResult,
    Medication,
    Narrative,
    Procedure,
    Statement,
    Usage,
    Vital,
    entities_from_json,
    from_json,
    to_json,
)

__all__ = [
    "AIRequestRejected",
    "Allergy",
    "ClinicalRecords",
    "Condition",
    "Entity",
    "Immunization",
    "InvalidAIResponse",
    "LabResult",
    "Medication",
    "Narrative",
    "Procedure",
    "Provider",
    "ProviderRateLimited",
    "RateLimiter",
    "Statement",
    "Usage",
    "Vital",
    "entities_from_json",
    "from_json",
    "make_provider",
    "to_json",
]
