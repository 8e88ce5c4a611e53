"""A provider over any OpenAI-compatible chat-completions service (OpenAI, Azure's
compatible endpoint, vLLM, llama.cpp's server, Ollama's /v1, ...).

Each pass is one or more `POST {base_url}/chat/completions` requests with
`response_format={"type": "json_schema", "json_schema": {..., "strict": true}}`
and temperature 0:

- Pass 1 sends the document text, each line prefixed with its page and line
  ("[p1 l7] Potassium 5.9 mmol/L H"), in chunks of at most `max_chunk_chars`;
  the model answers with each mention's text, page and line, and the provider
  finds the exact span (an answer naming text that is not on the page is dropped).
- Pass 2 sends the entities, each with the line(s) it stands on as context; the
  model answers with records citing entity ids (unknown ids are dropped, and a
  record left citing none is dropped). The document date, service dates and kind
  come from the document's own text by the local rules, not from the model.
- Pass 3 sends the records only, never the document; statements citing no known
  record are dropped. A document without records costs no request.

Failures map to pipeline errors: a timeout (or HTTP 408) is `AITimeout`; HTTP 429
is `ProviderRateLimited` (a `RateLimited`) with `retry_after` in seconds from the
Retry-After header; HTTP 5xx and connection errors are `ApiError`; other HTTP 4xx,
and a base URL that is no URL, is `AIRequestRejected`. An answer that is not JSON
or does not fit the schema is asked for once more in-process, then raises
`InvalidAIResponse` (with the usage spent on it). No message carries document text or model output.

Usage counts each request's `usage` tokens and prices them with the per-1k-token
prices given. Nothing here reads the environment: the caller passes the URL, key,
model and prices.

The wire (requests, errors, usage) is in `chat_completions.py`; the prompts, what
each pass sends and how answers map back, in `chat_mapping.py`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import httpx

from app.pipeline.ai.chat_completions import ChatCompletions
from app.pipeline.ai.chat_mapping import (
    PASS1_PROMPT,
    PASS2_PROMPT,
    PASS3_PROMPT,
    chunks,
    entity_context,
    place_entities,
    records_of,
)
from app.pipeline.ai.documents import dates_of, kind_of
from app.pipeline.ai.errors import carrying, sent_before
from app.pipeline.ai.rate_limiter import RateLimiter
from app.pipeline.ai.schemas import ENTITIES_SCHEMA, NARRATIVE_SCHEMA, RECORDS_SCHEMA
from app.pipeline.ai.text import Analysis
from app.pipeline.ai.types import ClinicalRecords, Entity, Narrative, Statement, Usage, to_json
from app.pipeline.errors import PipelineError
from app.pipeline.layout import DocumentText

log = logging.getLogger(__name__)


class OpenAICompatProvider:
    """Pass 1-3 by a remote model that speaks the OpenAI chat-completions API."""

    name = "openai"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        prompt_price_per_1k: float = 0.0,
        completion_price_per_1k: float = 0.0,
        timeout: float = 120.0,
        max_tokens: int = 4096,
        max_chunk_chars: int = 24_000,
        rate_limiter: RateLimiter | None = None,
        day_first: bool = True,
        client: httpx.Client | None = None,
    ) -> None:
        self.chat = ChatCompletions(
            provider=self.name,
            base_url=base_url,
            api_key=api_key,
            model=model,
            prices=(prompt_price_per_1k, completion_price_per_1k),
            timeout=timeout,
            max_tokens=max_tokens,
            rate_limiter=rate_limiter,
            client=client,
        )
        self.max_chunk_chars = max_chunk_chars
        self.day_first = day_first

    @property
    def rate_limiter(self) -> RateLimiter | None:
        return self.chat.rate_limiter

    def close(self) -> None:
        self.chat.close()

    def __enter__(self) -> OpenAICompatProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def detect_entities(self, doc: DocumentText) -> tuple[list[Entity], Usage]:
        """Pass 1. Raises AITimeout, ApiError, RateLimited, AIRequestRejected, InvalidAIResponse."""
        analysis = Analysis(doc)
        usage = self.chat.no_usage()
        found: list[dict[str, Any]] = []
        for chunk in chunks(doc, analysis.lines, self.max_chunk_chars):
            try:
                answer = self.chat.ask("entities", ENTITIES_SCHEMA, PASS1_PROMPT, chunk)
            except PipelineError as exc:  # what the earlier chunks sent was sent too
                carrying(exc, usage + (sent_before(exc) or self.chat.no_usage()))
                raise
            usage += answer.usage
            found += answer.data["entities"]
        entities = place_entities(doc, analysis.lines, found)
        if len(entities) < len(found):
            log.info(
                "pass 1: %d of %d answers named text not on the page",
                len(found) - len(entities),
                len(found),
            )
        return entities, usage

    def enrich(self, doc: DocumentText, entities: list[Entity]) -> tuple[ClinicalRecords, Usage]:
        """Pass 2. Raises as `detect_entities` does."""
        analysis = Analysis(doc)
        payload = [
            {
                "id": e.id,
                "type": e.type,
                "text": e.text,
                "negated": e.negated,
                "historical": e.historical,
                "family": e.family,
                "hypothetical": e.hypothetical,
                "section": e.section,
                "context": entity_context(doc, analysis.lines, e),
            }
            for e in entities
        ]
        answer = self.chat.ask("records", RECORDS_SCHEMA, PASS2_PROMPT, json.dumps(payload))
        records = records_of(answer.data, {e.id for e in entities})
        document_date, service_dates = dates_of(doc.text, day_first=self.day_first)
        lines = [doc.text[line.start : line.end] for line in analysis.lines]
        records = dataclasses.replace(
            records, document_date=document_date, service_dates=service_dates
        )
        return dataclasses.replace(records, document_kind=kind_of(lines, records)), answer.usage

    def narrate(self, records: ClinicalRecords, entities: list[Entity]) -> tuple[Narrative, Usage]:
        """Pass 3, from the records alone (`entities` are not sent). Raises as above.

        No records, no request: the narrative is empty.
        """
        del entities
        if not records.all_records():
            kind = records.document_kind or "other"
            return Narrative(kind, records.document_date, "", ()), self.chat.no_usage()
        payload = json.dumps(to_json(records))
        answer = self.chat.ask("narrative", NARRATIVE_SCHEMA, PASS3_PROMPT, payload)
        known = records.record_ids()
        statements = []
        for item in answer.data["statements"]:
            cited = tuple(dict.fromkeys(i for i in item["record_ids"] if i in known))
            if cited and item["text"].strip():
                statements.append(Statement(item["text"].strip(), cited))
        summary = " ".join(s.text for s in statements)
        kind = answer.data["kind"]
        return Narrative(kind, records.document_date, summary, tuple(statements)), answer.usage
