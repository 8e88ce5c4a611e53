"""The local provider: offline, deterministic, free. The default.

It runs the three passes with the lexicon in `data/` and the rules of this
package (`detect.py`, `enrich.py`, `narrate.py`): no model, no network, no
download, the same output for the same input. A pass costs no tokens; its
`Usage` counts no requests.
"""

from __future__ import annotations

from app.pipeline.ai.detect import detect
from app.pipeline.ai.enrich import enrich
from app.pipeline.ai.lexicon import Lexicon, default_lexicon
from app.pipeline.ai.narrate import narrate
from app.pipeline.ai.types import ClinicalRecords, Entity, Narrative, Usage
from app.pipeline.ai.vocabulary import Vocabulary, default_vocabulary
from app.pipeline.layout import DocumentText

MODEL = "rules-1"


class LocalProvider:
    """Lexicon, vocabularies and rules. `day_first` decides how "03/04/2024" is read (see
    dates.py); the large vocabularies (vocabulary.py) load once per process."""

    name = "local"

    def __init__(
        self,
        *,
        day_first: bool = True,
        lexicon: Lexicon | None = None,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self.day_first = day_first
        self.lexicon = lexicon or default_lexicon()
        self.vocabulary = vocabulary if vocabulary is not None else default_vocabulary()

    def _usage(self) -> Usage:
        return Usage(self.name, MODEL)

    def detect_entities(self, doc: DocumentText) -> tuple[list[Entity], Usage]:
        return detect(doc, self.lexicon, vocabulary=self.vocabulary), self._usage()

    def enrich(self, doc: DocumentText, entities: list[Entity]) -> tuple[ClinicalRecords, Usage]:
        records = enrich(
            doc, entities, self.lexicon, day_first=self.day_first, vocabulary=self.vocabulary
        )
        return records, self._usage()

    def narrate(self, records: ClinicalRecords, entities: list[Entity]) -> tuple[Narrative, Usage]:
        """The narrative of `records`; `entities` are not needed by the templates."""
        del entities
        return narrate(records), self._usage()
