"""A document's budget: characters and pixels it may have, model tokens and dollars a run
may spend; each refused with a named error before the work that would pass it."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pipeline import budget
from app.pipeline.ai.chat_mapping import PASS1_PROMPT
from app.pipeline.ai.openai_compat import OpenAICompatProvider
from app.pipeline.budget import (
    BudgetExceeded,
    DocumentBudget,
    RunBudget,
    Spend,
    TooLarge,
)
from app.pipeline.errors import PermanentError
from app.runs.failures import TRANSIENT_ERRORS, describe
from tests.app.pipeline.ai.chat_server import ChatServer
from tests.app.pipeline.ai.test_openai_compat import KEY, letter

MARKER = "QUILLON-7"  # stands for patient text: never in a message


@pytest.fixture
def server() -> Iterator[ChatServer]:
    chat = ChatServer()
    chat.start()
    yield chat
    chat.stop()


def test_a_text_file_is_counted_in_characters_not_bytes(tmp_path: Path) -> None:
    limits = DocumentBudget(max_characters=1500)
    accented = tmp_path / "accented.txt"
    accented.write_text("é" * 1000)  # 2000 bytes, 1000 characters
    budget.check_text_file(accented, limits)

    plain = tmp_path / "plain.txt"
    plain.write_text(MARKER * 200)  # 1800 characters
    with pytest.raises(TooLarge) as refused:
        budget.check_text_file(plain, limits)
    assert refused.value.error_type == "too_large"
    assert "1800 characters" in str(refused.value) and MARKER not in str(refused.value)


def test_pages_that_render_to_too_many_pixels_are_too_large() -> None:
    limits = DocumentBudget(max_pixels=500 * 8_700_000)
    budget.check_pixels(500 * 8_700_000, limits)  # 500 A4 pages at 300 dpi
    with pytest.raises(TooLarge):
        budget.check_pixels(500 * 60_000_000, limits)  # 500 pages of 60 MP


def test_refusals_are_permanent_and_filed_under_their_names() -> None:
    for error, name in ((TooLarge("x"), "too_large"), (BudgetExceeded("x"), "budget_exceeded")):
        assert isinstance(error, PermanentError)
        assert not isinstance(error, TRANSIENT_ERRORS)
        assert describe(error)[0] == name


def _chunked(server: ChatServer, max_tokens: int) -> OpenAICompatProvider:
    return OpenAICompatProvider(
        base_url=server.url,
        api_key=KEY,
        model="m",
        max_chunk_chars=120,
        max_tokens=max_tokens,
        prompt_price_per_1k=0.5,
        completion_price_per_1k=1.5,
        timeout=2.0,
    )


def test_a_run_stops_before_the_request_that_would_pass_its_token_budget(
    server: ChatServer,
) -> None:
    # Each request may cost its prompt (four characters a token) plus its completion
    # limit; a chunk is at most 120 characters, so this budget admits one request only
    # once the first (120 tokens by the server's count) is spent.
    most = math.ceil((len(PASS1_PROMPT) + 120) / 4) + 200
    for _ in range(3):
        server.reply({"entities": []}, prompt_tokens=100, completion_tokens=20)
    run = RunBudget(DocumentBudget(max_tokens=most))

    with _chunked(server, 200) as provider, budget.spending(run), pytest.raises(BudgetExceeded):
        provider.detect_entities(letter())

    assert len(server.requests) == 1
    assert run.spent == Spend(120, 100 / 1000 * 0.5 + 20 / 1000 * 1.5)


def test_a_run_that_spent_its_budget_in_earlier_passes_sends_nothing(server: ChatServer) -> None:
    run = RunBudget(DocumentBudget(max_tokens=10_000), spent=Spend(9_900, 0.0))
    with _chunked(server, 200) as provider, budget.spending(run), pytest.raises(BudgetExceeded):
        provider.detect_entities(letter())
    assert server.requests == []


def test_a_priced_model_is_held_to_the_cost_budget(server: ChatServer) -> None:
    run = RunBudget(DocumentBudget(max_cost_usd=0.0001))  # less than one request may cost
    with _chunked(server, 200) as provider, budget.spending(run), pytest.raises(BudgetExceeded):
        provider.detect_entities(letter())
    assert server.requests == []


def test_outside_a_run_budget_requests_are_not_counted(server: ChatServer) -> None:
    for _ in range(3):
        server.reply({"entities": []})
    with _chunked(server, 200) as provider:
        provider.detect_entities(letter())
    assert len(server.requests) >= 2
    assert budget.current() is None
