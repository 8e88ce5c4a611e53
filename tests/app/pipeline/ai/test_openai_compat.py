"""The OpenAI-compatible provider against a chat-completions server speaking the real wire
format on 127.0.0.1: request shape, parsing, usage and cost, and every failure mode."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from app.pipeline.ai.chat_completions import retry_after_seconds
from app.pipeline.ai.errors import AIRequestRejected, InvalidAIResponse, ProviderRateLimited
from app.pipeline.ai.local import LocalProvider
from app.pipeline.ai.openai_compat import OpenAICompatProvider
from app.pipeline.ai.provider import make_provider
from app.pipeline.ai.schemas import ENTITIES_SCHEMA, NARRATIVE_SCHEMA, RECORDS_SCHEMA
from app.pipeline.ai.types import ClinicalRecords, Entity, Medication
from app.pipeline.errors import AITimeout, ApiError, PermanentError, RateLimited, TransientError
from app.pipeline.layout import DocumentText
from app.runs.failures import describe
from tests.app.pipeline.ai.chat_server import ChatServer
from tests.support.clinical_corpus import M, Writer, document_text

KEY = "sk-test-0123"
SECRET = "ZEBRA-OUTPUT-7"  # stands for model output: it must never reach an error message


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = ChatServer()
    chat.start()
    yield chat
    chat.stop()


@pytest.fixture
def provider(server: ChatServer) -> Iterator[OpenAICompatProvider]:
    with OpenAICompatProvider(
        base_url=server.url,
        api_key=KEY,
        model="gpt-test",
        prompt_price_per_1k=0.5,
        completion_price_per_1k=1.5,
        timeout=2.0,
    ) as remote:
        yield remote


def letter() -> DocumentText:
    w = Writer("letter", "clinic_letter")
    w.line("Clinic letter, 12 Station Road")
    w.line("Date: 12/03/2024")
    w.line("Mrs Quill denies ", M("chest pain", "observation", negated=True), ".")
    w.line(M("Metformin 500 mg twice daily", "medication"))
    w.page_break()
    w.line(M("Potassium 5.9 mmol/L H", "lab_result"))
    return document_text(w.build())


DOCUMENT_WORDS = ("Station", "Quill", "Potassium", "Metformin", "chest")


def entity(number: int, kind: str, text: str, line: int, page: int = 1, **flags: Any) -> dict:
    return {
        "type": kind,
        "text": text,
        "page": page,
        "line": line,
        "negated": flags.get("negated", False),
        "historical": False,
        "family": False,
        "hypothetical": False,
        "section": None,
        "confidence": 0.5 + number / 10,
    }


PASS1_ANSWER = {
    "entities": [
        entity(1, "observation", "chest pain", 3, negated=True),
        entity(2, "medication", "Metformin 500 mg twice daily", 4),
        entity(3, "lab_result", "Potassium 5.9 mmol/L H", 1, page=2),
    ]
}


def test_pass1_sends_the_numbered_text_with_a_strict_schema_and_finds_each_span(
    server: ChatServer, provider: OpenAICompatProvider
) -> None:
    doc = letter()
    server.reply(PASS1_ANSWER, prompt_tokens=1000, completion_tokens=200)

    entities, usage = provider.detect_entities(doc)

    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = request.body
    assert body["model"] == "gpt-test" and body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "[p1 l3] Mrs Quill denies chest pain." in body["messages"][1]["content"]
    assert "[p2 l1] Potassium 5.9 mmol/L H" in body["messages"][1]["content"]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["response_format"]["json_schema"]["schema"] == ENTITIES_SCHEMA

    assert [(e.id, e.type, e.text) for e in entities] == [
        ("e1", "observation", "chest pain"),
        ("e2", "medication", "Metformin 500 mg twice daily"),
        ("e3", "lab_result", "Potassium 5.9 mmol/L H"),
    ]
    for found in entities:
        assert doc.text[found.start : found.end] == found.text
        assert found.box is not None and all(0 <= v <= 1 for v in found.box)
    assert entities[0].negated and not entities[1].negated
    assert [e.page for e in entities] == [1, 1, 2]
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens) == (1, 1000, 200)
    assert usage.cost_usd == pytest.approx(1000 / 1000 * 0.5 + 200 / 1000 * 1.5)
    assert (usage.provider, usage.model) == ("openai", "gpt-test")


def test_pass1_drops_text_that_is_not_in_the_document_and_finds_misplaced_lines(
    server: ChatServer, provider: OpenAICompatProvider
) -> None:
    answer = {
        "entities": [
            entity(1, "condition", "pneumonia", 3),  # not in the document
            entity(2, "medication", "metformin 500 MG twice daily", 1),  # wrong line and case
        ]
    }
    server.reply(answer)

    entities, _ = provider.detect_entities(letter())

    assert [(e.type, e.text) for e in entities] == [("medication", "Metformin 500 mg twice daily")]


def test_pass1_splits_a_long_document_into_chunks_and_adds_up_usage(
    server: ChatServer,
) -> None:
    doc = letter()
    server.reply({"entities": [entity(1, "observation", "chest pain", 3, negated=True)]})
    server.reply({"entities": [entity(3, "lab_result", "Potassium 5.9 mmol/L H", 1, page=2)]})
    with OpenAICompatProvider(
        base_url=server.url, api_key=KEY, model="m", max_chunk_chars=120, timeout=2.0
    ) as small:
        entities, usage = small.detect_entities(doc)

    assert len(server.requests) == 2
    assert [e.text for e in entities] == ["chest pain", "Potassium 5.9 mmol/L H"]
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens) == (2, 200, 40)


def local_entities(doc: DocumentText) -> list[Entity]:
    return LocalProvider().detect_entities(doc)[0]


def test_pass2_sends_entities_with_their_lines_and_keeps_only_known_citations(
    server: ChatServer, provider: OpenAICompatProvider
) -> None:
    doc = letter()
    entities = local_entities(doc)
    metformin = next(e for e in entities if e.type == "medication")
    empty = {kind: [] for kind in RECORDS_SCHEMA["properties"]}
    medication = {
        "entity_ids": [metformin.id, "e99"],
        "name": "metformin",
        "strength": 500,
        "strength_unit": "mg",
        "dose": None,
        "dose_unit": None,
        "route": None,
        "frequency": "twice daily",
        "status": "active",
        "rxnorm": "6809",
    }
    invented = {**medication, "entity_ids": ["e42"], "name": "warfarin"}
    server.reply({**empty, "medications": [medication, invented]})

    records, usage = provider.enrich(doc, entities)

    sent = server.requests[0].body
    assert sent["response_format"]["json_schema"]["schema"] == RECORDS_SCHEMA
    assert metformin.id in sent["messages"][1]["content"]
    assert "Metformin 500 mg twice daily" in sent["messages"][1]["content"]
    assert records.medications == (
        Medication(
            "m1",
            (metformin.id,),
            "metformin",
            500.0,
            "mg",
            frequency="twice daily",
            status="active",
            rxnorm="6809",
        ),
    )
    assert records.document_date == "2024-03-12"
    assert usage.requests == 1


def test_pass3_sends_the_records_only_and_keeps_statements_that_cite_them(
    server: ChatServer, provider: OpenAICompatProvider
) -> None:
    doc = letter()
    local = LocalProvider()
    entities = local_entities(doc)
    records, _ = local.enrich(doc, entities)
    server.reply(
        {
            "kind": "clinic_letter",
            "statements": [
                {"text": "Takes metformin 500 mg twice daily.", "record_ids": ["m1", "x7"]},
                {"text": "Something uncited.", "record_ids": ["x8"]},
            ],
        }
    )

    narrative, _ = provider.narrate(records, entities)

    sent = server.requests[0].body
    assert sent["response_format"]["json_schema"]["schema"] == NARRATIVE_SCHEMA
    user = sent["messages"][1]["content"]
    assert "m1" in user
    assert "Station" not in user and "Quill" not in user  # no document text, only records
    assert [(s.text, s.record_ids) for s in narrative.statements] == [
        ("Takes metformin 500 mg twice daily.", ("m1",))
    ]
    assert narrative.summary == "Takes metformin 500 mg twice daily."
    assert narrative.kind == "clinic_letter" and narrative.document_date == "2024-03-12"


def assert_no_document_text(error: BaseException) -> None:
    message = str(error) + describe(error)[1]
    for word in (*DOCUMENT_WORDS, SECRET):
        assert word not in message


def test_429_is_rate_limited_with_retry_after(
    server: ChatServer, provider: OpenAICompatProvider
) -> None:
    server.reply(status=429, headers={"Retry-After": "7"}, body=SECRET.encode())

    with pytest.raises(ProviderRateLimited) as caught:
        provider.detect_entities(letter())

    assert isinstance(caught.value, RateLimited) and isinstance(caught.value, TransientError)
    assert caught.value.retry_after == 7.0
    assert caught.value.error_type == "rate_limited"
    assert_no_document_text(caught.value)


def test_retry_after_may_be_an_http_date() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412500.0) == 10.0
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_a_server_error_is_an_api_error(server: ChatServer, provider: OpenAICompatProvider) -> None:
    server.reply(status=500, body=f'{{"error": "{SECRET}"}}'.encode())

    with pytest.raises(ApiError) as caught:
        provider.detect_entities(letter())

    assert caught.value.error_type == "api_error"
    assert_no_document_text(caught.value)


def test_a_refused_connection_is_an_api_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port now.
    with (
        OpenAICompatProvider(
            base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, model="m", timeout=2.0
        ) as remote,
        pytest.raises(ApiError) as caught,
    ):
        remote.detect_entities(letter())
    assert_no_document_text(caught.value)


def test_a_slow_answer_is_a_timeout(server: ChatServer) -> None:
    server.reply(PASS1_ANSWER, delay=1.0)
    with (
        OpenAICompatProvider(base_url=server.url, api_key=KEY, model="m", timeout=0.2) as impatient,
        pytest.raises(AITimeout) as caught,
    ):
        impatient.detect_entities(letter())
    assert caught.value.error_type == "ai_timeout"
    assert_no_document_text(caught.value)


def test_an_unauthorised_request_fails_at_once(
    server: ChatServer, provider: OpenAICompatProvider
) -> None:
    server.reply(status=401)
    with pytest.raises(AIRequestRejected) as caught:
        provider.detect_entities(letter())
    assert isinstance(caught.value, PermanentError)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "bad",
    [
        f"not json {SECRET}",
        {"entities": [{"type": "medication", "text": SECRET}]},  # missing fields
        {"entities": [{**entity(1, "spell", SECRET, 1)}]},  # not an entity type
    ],
)
def test_an_answer_that_misses_the_schema_twice_is_permanent(
    server: ChatServer, provider: OpenAICompatProvider, bad: Any
) -> None:
    server.reply(bad)
    server.reply(bad)

    with pytest.raises(InvalidAIResponse) as caught:
        provider.detect_entities(letter())

    assert len(server.requests) == 2
    error = caught.value
    assert isinstance(error, PermanentError) and error.error_type == "invalid_ai_response"
    assert error.usage is not None and error.usage.requests == 2
    assert_no_document_text(error)


def test_an_answer_cut_off_at_the_token_limit_is_asked_again(
    server: ChatServer, provider: OpenAICompatProvider
) -> None:
    server.reply(PASS1_ANSWER, finish_reason="length")
    server.reply(PASS1_ANSWER)

    entities, usage = provider.detect_entities(letter())

    assert len(entities) == 3 and usage.requests == 2


def test_one_bad_answer_then_a_good_one_succeeds(
    server: ChatServer, provider: OpenAICompatProvider
) -> None:
    server.reply("{ nope")
    server.reply(PASS1_ANSWER, prompt_tokens=300, completion_tokens=50)

    entities, usage = provider.detect_entities(letter())

    assert len(entities) == 3
    assert (usage.requests, usage.prompt_tokens, usage.completion_tokens) == (2, 400, 70)


class CountingLimiter:
    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[int] = []
        self.refuse = refuse

    def acquire(self, tokens: int) -> None:
        self.calls.append(tokens)
        if self.refuse:
            raise ProviderRateLimited("local budget spent", 3.0)


def test_the_rate_limiter_is_asked_before_each_request(server: ChatServer) -> None:
    limiter = CountingLimiter()
    server.reply("{ nope")
    server.reply(PASS1_ANSWER)
    with OpenAICompatProvider(
        base_url=server.url, api_key=KEY, model="m", max_tokens=500, rate_limiter=limiter
    ) as remote:
        remote.detect_entities(letter())
    assert len(limiter.calls) == 2 and all(tokens > 500 for tokens in limiter.calls)


def test_a_limiter_that_refuses_stops_the_request(server: ChatServer) -> None:
    with (
        OpenAICompatProvider(
            base_url=server.url, api_key=KEY, model="m", rate_limiter=CountingLimiter(refuse=True)
        ) as remote,
        pytest.raises(RateLimited),
    ):
        remote.detect_entities(letter())
    assert server.requests == []


def test_make_provider_builds_each_provider_by_name(server: ChatServer) -> None:
    assert isinstance(make_provider("local"), LocalProvider)
    remote = make_provider("openai", base_url=server.url, api_key=KEY, model="m")
    assert isinstance(remote, OpenAICompatProvider)
    remote.close()
    with pytest.raises(ValueError, match="unknown AI provider"):
        make_provider("oracle")


def test_the_schemas_are_valid_json_schema_in_openai_strict_form() -> None:
    import jsonschema

    for schema in (ENTITIES_SCHEMA, RECORDS_SCHEMA, NARRATIVE_SCHEMA):
        jsonschema.Draft202012Validator.check_schema(schema)
        stack = [schema]
        while stack:
            node = stack.pop()
            if node.get("type") == "object":
                assert node["additionalProperties"] is False
                assert sorted(node["required"]) == sorted(node["properties"])
                stack += node["properties"].values()
            if "items" in node:
                stack.append(node["items"])


def test_no_records_make_an_empty_narrative_without_a_request(
    server: ChatServer, provider: OpenAICompatProvider
) -> None:
    narrative, usage = provider.narrate(ClinicalRecords(document_kind="lab_report"), [])
    assert narrative.statements == () and narrative.summary == ""
    assert narrative.kind == "lab_report"
    assert server.requests == [] and usage.requests == 0
