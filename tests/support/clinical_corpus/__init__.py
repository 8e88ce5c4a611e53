"""A synthetic clinical corpus with known answers, for the AI lane's tests and benchmarks.

`corpus(seed)` makes 50 documents, ten of each kind (lab reports, vital signs
records, medication lists, discharge summaries, clinic letters), from a seeded RNG:
names, values, dates, phrasings, section order and layout all vary, so no two
documents share a template line for line. Each document gives

- its text, as lines on one or two pages (an empty line is vertical space);
- its gold entities: type, exact text, where it starts (page, line, column) and
  the negated / historical / family / hypothetical flags;
- its gold records (medicines, results, vital signs, conditions, allergies,
  immunisations, procedures) with the fields a reader would take from it;
- its kind and document date.

Everything is invented: names, numbers and hospitals are made up. `handwritten()`
gives six held-out documents written by hand, kept as corpus files in held_out/.

Entity definitions follow the provider's (see app/pipeline/ai/types.py): a
medicine's, result's or reading's span takes in its values; an allergy's takes in
its reaction; symptoms are `observation`, examination findings `physical_finding`.

Where things live:

- documents.py: the document and gold types, their JSON corpus files (`save`,
  `load`; the format is in its docstring), their layout (`document_text`) and
  the held-out set (`handwritten`);
- writer.py: `Writer` and `M`, to write a document with its gold in place;
- vocabulary.py: the words the generators choose from (vocabulary.json);
- generate.py: `corpus(seed)` and the generators of each kind (with mentions.py,
  phrasing.py and letters.py);
- scoring.py: `evaluate` and the tables the tests and bench/ai_quality.py print.
"""

from tests.support.clinical_corpus.documents import (
    FLAGS,
    RECORD_KINDS,
    CorpusDocument,
    GoldEntity,
    document_text,
    gold_spans,
    handwritten,
    layouts,
    load,
    read,
    save,
)
from tests.support.clinical_corpus.generate import corpus
from tests.support.clinical_corpus.scoring import (
    Evaluation,
    Miss,
    Score,
    evaluate,
    match_entities,
    style_table,
    table,
)
from tests.support.clinical_corpus.writer import M, Writer

__all__ = [
    "FLAGS",
    "RECORD_KINDS",
    "CorpusDocument",
    "Evaluation",
    "GoldEntity",
    "M",
    "Miss",
    "Score",
    "Writer",
    "corpus",
    "document_text",
    "evaluate",
    "gold_spans",
    "handwritten",
    "layouts",
    "load",
    "match_entities",
    "read",
    "save",
    "style_table",
    "table",
]
