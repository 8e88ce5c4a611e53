"""Writes app/pipeline/ai/data/icd10cm.tsv: ICD-10-CM disease names and their codes.

    .venv/bin/python scripts/build_icd10cm.py           # rewrite the file
    .venv/bin/python scripts/build_icd10cm.py --check   # exit 1 if the file is stale

The source is the CDC's ICD-10-CM tabular list as the pinned `simple-icd-10-cm` package
ships it (public domain). Loading that package takes ~3 s and ~190 MB, too much for every
AI worker, so Pass 1 reads this derived file instead: one row per name a document may
use, with the code it is best coded by. Names are the codes' titles and inclusion terms
made plain: nonessential modifiers in brackets dropped ("Essential (primary)
hypertension" is "essential hypertension"; "hypertension (arterial) (benign)" is
"hypertension"), "NOS" and "unspecified" dropped, and a title's qualifiers after a comma
or "without" dropped ("Hyperlipidemia, unspecified", "Type 2 diabetes mellitus without
complications"). Where several codes give one name, an unspecified code wins, then one
without complications ("with ..."), then a billable (leaf) code, then the shortest.
Chapters A-Q (diseases) and R (symptoms and signs) are kept; injuries, external causes
and factors (S-Z) are not names of a person's conditions.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "app/pipeline/ai/data/icd10cm.tsv"
HEADER = (
    "# ICD-10-CM names and codes, derived by scripts/build_icd10cm.py from the CDC's ICD-10-CM\n"
    "# tabular list (April 2026, public domain) as shipped by simple-icd-10-cm 1.5.0. Do not\n"
    "# edit by hand: run the script. kind: condition (chapters A-Q) or observation (R).\n"
    "name\tcode\tkind\n"
)
MAX_NAME = 60
_BRACKETS = re.compile(r"\s*\([^()]*\)")
_QUALIFIER = re.compile(r",\s.*$|\s+without\s.*$|\s+NOS$")
_UNSPECIFIED = re.compile(r"^unspecified\s+", re.IGNORECASE)


def plain(name: str) -> str:
    name = _BRACKETS.sub("", name)
    name = _UNSPECIFIED.sub("", name.strip())
    return re.sub(r"\s+", " ", name).strip().lower()


def names_of(title: str, terms: list[str]) -> dict[str, bool]:
    """The plain names of a code, each with whether it names the unspecified case."""
    found = {plain(title): "unspecified" in title.lower()}
    cut = _QUALIFIER.search(title)
    if cut:
        found.setdefault(plain(title[: cut.start()]), "unspecified" in title.lower())
    for term in terms:
        found.setdefault(plain(term.removesuffix(" NOS")), term.endswith(" NOS"))
    return {
        name: unspecified
        for name, unspecified in found.items()
        if 3 <= len(name) <= MAX_NAME and "," not in name and not name[:1].isdigit()
    }


def build() -> str:
    import simple_icd_10_cm as icd

    best: dict[str, tuple[tuple[int, int, int, int, str], str, str]] = {}
    for code in icd.get_all_codes(with_dots=True):
        if not icd.is_category_or_subcategory(code) or code[0] > "R":
            continue
        terms = icd.get_inclusion_term(code) + icd.get_includes(code)
        kind = "observation" if code.startswith("R") else "condition"
        title = icd.get_description(code)
        leaf = 0 if icd.is_leaf(code) else 1
        complicated = 1 if " with " in f" {title.lower()} " else 0
        for name, unspecified in names_of(title, terms).items():
            rank = (0 if unspecified else 1, complicated, leaf, len(code), code)
            if name not in best or rank < best[name][0]:
                best[name] = (rank, code, kind)
    rows = [f"{name}\t{code}\t{kind}\n" for name, (_, code, kind) in sorted(best.items())]
    return HEADER + "".join(rows)


def main(argv: list[str]) -> int:
    content = build()
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != content:
            print(f"{OUT} is stale: run scripts/build_icd10cm.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(content, encoding="utf-8")
    print(f"wrote {content.count(chr(10)) - 4} names to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
