"""What one document may cost to process: characters, pixels, model tokens and dollars.

A document is refused once, with a named reason, before the work that would exceed
its budget starts: `too_large` when the document itself is bigger than this service
reads (a 50 MB text file, 500 pages of 60 megapixels each), `budget_exceeded` when a
run would spend more on a remote model than one document may. Both are permanent: a
retry would spend the same again. Messages give counts and limits, never content.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from app.pipeline.errors import PermanentError


class TooLarge(PermanentError):
    """The document is bigger than this service processes."""

    error_type = "too_large"


class BudgetExceeded(PermanentError):
    """Processing the document would spend more on a model than one document may."""

    error_type = "budget_exceeded"


@dataclass(frozen=True)
class DocumentBudget:
    #: Characters of text read from one document (a long discharge summary is ~50k; a
    #: 500-page record ~1.5M).
    max_characters: int = 2_000_000
    #: Pixels the OCR renders over all pages: 500 A4 pages at 300 dpi are 4.4 billion.
    max_pixels: int = 5_000_000_000
    #: Model tokens (prompt and completion, every pass) one run of a document may use.
    max_tokens: int = 2_000_000
    #: Estimated dollars one run may spend on a priced model; 0 sets no limit.
    max_cost_usd: float = 0.0


@dataclass(frozen=True)
class Spend:
    tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Spend) -> Spend:
        return Spend(self.tokens + other.tokens, self.cost_usd + other.cost_usd)


def check_characters(count: int, budget: DocumentBudget) -> None:
    """Raise TooLarge if a document's text has more characters than are read."""
    if count > budget.max_characters:
        raise TooLarge(
            f"the document has {count} characters of text; at most "
            f"{budget.max_characters} are processed"
        )


def check_pixels(count: int, budget: DocumentBudget) -> None:
    """Raise TooLarge if rendering every page would make more pixels than are read."""
    if count > budget.max_pixels:
        raise TooLarge(
            f"the document's pages render to {count} pixels; at most "
            f"{budget.max_pixels} are processed"
        )


def check_spend(spent: Spend, planned: Spend, budget: DocumentBudget) -> None:
    """Raise BudgetExceeded if what this run spent, plus what the next pass would at
    most spend, passes the run's token or cost budget."""
    total = spent + planned
    if total.tokens > budget.max_tokens:
        raise BudgetExceeded(
            f"the run would use up to {total.tokens} model tokens; at most "
            f"{budget.max_tokens} are allowed per document"
        )
    if budget.max_cost_usd and total.cost_usd > budget.max_cost_usd:
        raise BudgetExceeded(
            f"the run would cost up to ${total.cost_usd:.2f}; at most "
            f"${budget.max_cost_usd:.2f} is allowed per document"
        )


def check_text_file(path: Path, budget: DocumentBudget) -> None:
    """Raise TooLarge if a text file holds more characters than are read.

    A file of no more bytes than the limit passes at once (a character is at least a
    byte); a bigger one is counted as UTF-8 in bounded steps, stopping at the limit.
    """
    if path.stat().st_size <= budget.max_characters:
        return
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    count = 0
    with path.open("rb") as handle:
        while (chunk := handle.read(1 << 20)) and count <= budget.max_characters:
            count += len(decoder.decode(chunk))
    check_characters(count, budget)


class RunBudget:
    """What a run of one document may still spend on a remote model.

    `reserve` is asked before each request with the most it can cost (its prompt
    estimated at four characters a token, plus its completion limit) and raises
    BudgetExceeded if that would pass the budget; `record` adds what it did cost.
    """

    def __init__(self, limits: DocumentBudget, spent: Spend | None = None) -> None:
        self.limits = limits
        self.spent = spent or Spend()

    def reserve(self, most: Spend) -> None:
        check_spend(self.spent, most, self.limits)

    def record(self, used: Spend) -> None:
        self.spent = self.spent + used


# The budget of the run whose pass is asking the model now, if any. The providers are
# built once per worker process and shared by every document it reads; the task that
# puts a document's pass to one says which budget that pass spends (`spending`).
_current: ContextVar[RunBudget | None] = ContextVar("run_budget", default=None)


@contextmanager
def spending(budget: RunBudget) -> Iterator[RunBudget]:
    """Requests made inside this block reserve from and record into `budget`."""
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def current() -> RunBudget | None:
    return _current.get()
