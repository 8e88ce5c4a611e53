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
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import math
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx

from app.pipeline.ai.detect import Locator
from app.pipeline.ai.documents import dates_of, kind_of
from app.pipeline.ai.errors import AIRequestRejected, InvalidAIResponse, ProviderRateLimited
from app.pipeline.ai.rate_limiter import RateLimiter
from app.pipeline.ai.schemas import (
    ENTITIES_SCHEMA,
    NARRATIVE_SCHEMA,
    RECORD_TYPES,
    RECORDS_SCHEMA,
    SchemaMismatch,
    check,
)
from app.pipeline.ai.text import Analysis
from app.pipeline.ai.types import (
    ClinicalRecords,
    Entity,
    Narrative,
    Statement,
    Usage,
    from_json,
    to_json,
)
from app.pipeline.errors import AITimeout, ApiError
from app.pipeline.layout import DocumentText, TextLine

log = logging.getLogger(__name__)

PASS1_PROMPT = """You extract clinical mentions from a medical document for a personal health \
record. Each line of the document starts with its page and line number, like [p1 l7].
Return every mention of these types: medication, condition (diagnoses and problems), procedure, \
observation (symptoms and history the patient reports, smoking), allergy, lab_result, \
vital_sign, physical_finding (what an examiner finds), immunization.
For each: "text" copied exactly from the line (for a medication include its dose and \
frequency, for a lab result its value, unit, flag and range, for a vital sign its reading, for \
an allergy its reaction), the "page" and "line" where it starts, and the flags: "negated" \
(stated absent: "denies chest pain", "no evidence of pneumonia"), "historical" (a past episode: \
"history of MI", past medical history), "family" (about a relative), "hypothetical" (only \
possible: "return if fever develops"). "section" is the heading it falls under, lower case with \
underscores, or null. "confidence" is 0 to 1. Do not add anything that is not in the text."""

PASS2_PROMPT = """You turn clinical mentions into structured health records. Each mention has \
an id, a type, its text, its context flags and the line(s) it stands on.
Return records, each citing the ids of the mentions it comes from in "entity_ids": \
medications (strength and dose as numbers with UCUM units such as mg, ug, g, mL, [iU], \
{tablet}, {puff}; route such as oral, inhaled, intravenous; frequency in words such as \
"twice daily", "at night", "four times daily as needed"; status), lab_results (value as a \
number, value_text as printed, UCUM unit such as g/L, mmol/L, umol/L, 10*9/L, %, reference \
range, abnormal_flag H, L or N, LOINC code if sure), vitals (type; value and UCUM unit: mm[Hg] \
with systolic and diastolic for blood pressure, /min, Cel (convert Fahrenheit), %, kg, cm, \
kg/m2), conditions (status active, resolved, history, negated or family; onset_date ISO 8601; \
SNOMED CT code if sure), allergies, immunizations and procedures (dates ISO 8601). Read dates \
day first (12/03/2024 is 12 March 2024). Use null for anything the text does not say. Leave \
out hypothetical mentions."""

PASS3_PROMPT = """You write a short factual summary of a patient's medical document for the \
patient's own health record, from structured records only. Write plain statements, each \
citing in "record_ids" the ids of the records it rests on (at least one). Say nothing the \
records do not say; no advice. "kind" is the kind of document."""


@dataclasses.dataclass
class _Answer:
    data: Any
    usage: Usage


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
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.prices = (prompt_price_per_1k, completion_price_per_1k)
        self.timeout = timeout
        self.max_tokens = max_tokens
        self.max_chunk_chars = max_chunk_chars
        self.rate_limiter = rate_limiter
        self.day_first = day_first
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._own_client = client is None
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> OpenAICompatProvider:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- the three passes
    def detect_entities(self, doc: DocumentText) -> tuple[list[Entity], Usage]:
        """Pass 1. Raises AITimeout, ApiError, RateLimited, AIRequestRejected, InvalidAIResponse."""
        analysis = Analysis(doc)
        usage = self._no_usage()
        found: list[dict[str, Any]] = []
        for chunk in _chunks(doc, analysis.lines, self.max_chunk_chars):
            answer = self._ask("entities", ENTITIES_SCHEMA, PASS1_PROMPT, chunk)
            usage += answer.usage
            found += answer.data["entities"]
        entities = _place_entities(doc, analysis.lines, found)
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
                "context": _context(doc, analysis.lines, e),
            }
            for e in entities
        ]
        answer = self._ask("records", RECORDS_SCHEMA, PASS2_PROMPT, json.dumps(payload))
        records = _records(answer.data, {e.id for e in entities})
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
            return Narrative(kind, records.document_date, "", ()), self._no_usage()
        payload = json.dumps(to_json(records))
        answer = self._ask("narrative", NARRATIVE_SCHEMA, PASS3_PROMPT, payload)
        known = records.record_ids()
        statements = []
        for item in answer.data["statements"]:
            cited = tuple(dict.fromkeys(i for i in item["record_ids"] if i in known))
            if cited and item["text"].strip():
                statements.append(Statement(item["text"].strip(), cited))
        summary = " ".join(s.text for s in statements)
        kind = answer.data["kind"]
        return Narrative(kind, records.document_date, summary, tuple(statements)), answer.usage

    # ---- one question, asked at most twice
    def _no_usage(self) -> Usage:
        return Usage(self.name, self.model)

    def _ask(self, name: str, schema: dict[str, Any], system: str, user: str) -> _Answer:
        body = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0,
            "max_tokens": self.max_tokens,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": schema, "strict": True},
            },
        }
        usage = self._no_usage()
        for attempt in (1, 2):
            reply = self._post(body, len(system) + len(user))
            usage += self._usage_of(reply)
            try:
                return _Answer(_content(reply, schema), usage)
            except SchemaMismatch as exc:
                log.warning(
                    "the model's %s answer did not fit its schema (attempt %d): %s",
                    name,
                    attempt,
                    exc,
                )
        raise InvalidAIResponse(f"the model's {name} answer did not fit its schema, twice", usage)

    def _post(self, body: dict[str, Any], characters: int) -> dict[str, Any]:
        if self.rate_limiter is not None:
            self.rate_limiter.acquire(math.ceil(characters / 4) + self.max_tokens)
        try:
            response = self._client.post(
                self.url, json=body, headers=self._headers, timeout=self.timeout
            )
        except httpx.TimeoutException as exc:
            raise AITimeout(f"the model service did not answer within {self.timeout:g} s") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise AIRequestRejected("the model service's base URL is not a usable URL") from exc
        except httpx.TransportError as exc:
            raise ApiError(f"could not reach the model service ({type(exc).__name__})") from exc
        _raise_for_status(response)
        try:
            reply = response.json()
        except ValueError:
            reply = None
        return reply if isinstance(reply, dict) else {}

    def _usage_of(self, reply: dict[str, Any]) -> Usage:
        raw = reply.get("usage")
        counts: dict[str, Any] = raw if isinstance(raw, dict) else {}
        prompt = _count(counts.get("prompt_tokens"))
        completion = _count(counts.get("completion_tokens"))
        cost = prompt / 1000 * self.prices[0] + completion / 1000 * self.prices[1]
        return Usage(self.name, self.model, 1, prompt, completion, round(cost, 8))


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _raise_for_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    if status == 429:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        raise ProviderRateLimited("the model service is rate limiting (HTTP 429)", retry_after)
    if status == 408:
        raise AITimeout("the model service timed out the request (HTTP 408)")
    if status >= 500:
        raise ApiError(f"the model service failed (HTTP {status})")
    raise AIRequestRejected(f"the model service refused the request (HTTP {status})")


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _content(reply: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The parsed JSON answer of a chat completion; SchemaMismatch if there is none."""
    choices = reply.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise SchemaMismatch("the reply has no choices")
    choice = choices[0]
    raw = choice.get("message")
    message: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if message.get("refusal"):
        raise SchemaMismatch("the model refused")
    if choice.get("finish_reason") == "length":
        raise SchemaMismatch("the answer was cut off at the token limit")
    content = message.get("content")
    if not isinstance(content, str):
        raise SchemaMismatch("the reply has no content")
    try:
        data = json.loads(content)
    except ValueError:
        raise SchemaMismatch("the answer is not JSON") from None
    check(schema, data)
    return data


# ---- pass 1: chunks and spans
def _marked(doc: DocumentText, line: TextLine) -> str:
    return f"[p{line.page} l{line.line + 1}] {doc.text[line.start : line.end]}"


def _chunks(doc: DocumentText, lines: tuple[TextLine, ...], limit: int) -> Iterator[str]:
    """The document's lines with their markers, in chunks of at most `limit` characters."""
    chunk: list[str] = []
    size = 0
    for line in lines:
        marked = _marked(doc, line)
        if chunk and size + len(marked) + 1 > limit:
            yield "\n".join(chunk)
            chunk, size = [], 0
        chunk.append(marked)
        size += len(marked) + 1
    if chunk:
        yield "\n".join(chunk)


def _span_pattern(text: str) -> re.Pattern[str] | None:
    words = text.split()
    if not words:
        return None
    return re.compile(r"\s+".join(re.escape(word) for word in words), re.IGNORECASE)


def _find(
    doc: DocumentText,
    lines: tuple[TextLine, ...],
    item: dict[str, Any],
    taken: set[tuple[int, int]],
) -> tuple[int, int] | None:
    """Where the answer's text is: from its stated line, then anywhere on its page."""
    pattern = _span_pattern(item["text"])
    if pattern is None:
        return None
    stated = [ln for ln in lines if ln.page == item["page"] and ln.line + 1 == item["line"]]
    page = [ln for ln in lines if ln.page == item["page"]]
    for scope in (stated, page, lines):
        if not scope:
            continue
        for match in pattern.finditer(doc.text, scope[0].start, scope[-1].end + len(item["text"])):
            if match.start() > scope[-1].end:
                break
            if (match.start(), match.end()) not in taken:
                return match.start(), match.end()
    return None


def _place_entities(
    doc: DocumentText, lines: tuple[TextLine, ...], found: list[dict[str, Any]]
) -> list[Entity]:
    locator = Locator(doc)
    placed: list[tuple[int, int, dict[str, Any]]] = []
    taken: set[tuple[int, int]] = set()
    for item in found:
        span = _find(doc, lines, item, taken)
        if span is not None:
            taken.add(span)
            placed.append((*span, item))
    placed.sort(key=lambda p: (p[0], p[1]))
    entities = []
    for number, (start, end, item) in enumerate(placed, start=1):
        where = locator.locate(start, end)
        entities.append(
            Entity(
                id=f"e{number}",
                type=item["type"],
                text=doc.text[start:end],
                start=start,
                end=end,
                page=where[0] if where else None,
                box=where[1] if where else None,
                confidence=round(min(max(float(item["confidence"]), 0.0), 1.0), 3),
                negated=item["negated"],
                historical=item["historical"],
                family=item["family"],
                hypothetical=item["hypothetical"],
                section=item["section"],
                found_by="model",
            )
        )
    return entities


# ---- pass 2: context and records
def _context(doc: DocumentText, lines: tuple[TextLine, ...], entity: Entity) -> str:
    """The text of the line(s) an entity stands on."""
    spanned = [ln for ln in lines if ln.start <= entity.end and ln.end >= entity.start]
    if not spanned:
        return entity.text
    return " ".join(doc.text[spanned[0].start : spanned[-1].end].split())


def _records(data: dict[str, Any], known: set[str]) -> ClinicalRecords:
    """Records from the answer, numbered per kind, citing only known entities."""
    prefixes = {
        "medications": "m",
        "lab_results": "l",
        "vitals": "v",
        "conditions": "c",
        "allergies": "a",
        "immunizations": "i",
        "procedures": "p",
    }
    built: dict[str, Any] = {}
    for kind, cls in RECORD_TYPES.items():
        items = []
        for item in data[kind]:
            cited = tuple(dict.fromkeys(i for i in item["entity_ids"] if i in known))
            if cited:
                items.append({**item, "entity_ids": cited})
        built[kind] = tuple(
            from_json(
                cls, {**item, "entity_ids": list(item["entity_ids"]), "id": f"{prefixes[kind]}{n}"}
            )
            for n, item in enumerate(items, start=1)
        )
    return ClinicalRecords(**built)
