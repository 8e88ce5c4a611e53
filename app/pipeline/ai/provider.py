"""The interface of an AI provider, and the one place that builds one by name.

A provider runs the three passes of the AI lane as plain calls:

- `detect_entities(doc)` (Pass 1): clinical mentions in the document text, each
  with its span, page, box and context flags;
- `enrich(doc, entities)` (Pass 2): records (medications, results, vitals, ...)
  normalised to UCUM units and ISO dates, each citing the entities it came from;
- `narrate(records, entities)` (Pass 3): a short narrative whose every statement
  cites the records it rests on. It never sees the document text.

Each call also returns the `Usage` it cost. Failures are pipeline errors:
transient ones (`AITimeout`, `ApiError`, `RateLimited`) are worth retrying;
`InvalidAIResponse` and `AIRequestRejected` are not.
"""

from __future__ import annotations

from typing import Any, Protocol

from app.pipeline.ai.local import LocalProvider
from app.pipeline.ai.openai_compat import OpenAICompatProvider
from app.pipeline.ai.types import ClinicalRecords, Entity, Narrative, Usage
from app.pipeline.layout import DocumentText


class Provider(Protocol):
    name: str

    def detect_entities(self, doc: DocumentText) -> tuple[list[Entity], Usage]: ...

    def enrich(
        self, doc: DocumentText, entities: list[Entity]
    ) -> tuple[ClinicalRecords, Usage]: ...

    def narrate(
        self, records: ClinicalRecords, entities: list[Entity]
    ) -> tuple[Narrative, Usage]: ...


PROVIDERS = ("local", "openai")


def make_provider(name: str, **settings: Any) -> Provider:
    """The provider called `name`, built with `settings` as keyword arguments.

    "local": `LocalProvider(day_first=True)`, offline and deterministic.
    "openai": `OpenAICompatProvider(base_url=, api_key=, model=, ...)`, any
    OpenAI-compatible chat-completions service. Raises ValueError for another
    name, TypeError for a setting the provider does not take.
    """
    if name == "local":
        return LocalProvider(**settings)
    if name == "openai":
        return OpenAICompatProvider(**settings)
    raise ValueError(f"unknown AI provider {name!r}; expected one of {', '.join(PROVIDERS)}")
