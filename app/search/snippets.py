"""Snippets with their hits marked, safe to put into HTML.

The databases mark each hit with two control characters (`HIT_START`, `HIT_END`) that
page text cannot hold (the search strips them from the text it reads). Here every piece
of page text is HTML-escaped, and only the marks become `<mark>` elements, so whatever a
page says is shown as text, never run as markup.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

HIT_START = "\x02"
HIT_END = "\x03"
#: What joins two fragments of one page in a snippet.
ELLIPSIS = " … "

_SPACE = re.compile(r"\s+")


def render_snippet(marked: str) -> Markup:
    """`marked` (text with hits between HIT_START and HIT_END) as HTML with `<mark>`s."""
    html = []
    inside = False
    for piece in re.split(f"([{HIT_START}{HIT_END}])", _SPACE.sub(" ", marked).strip()):
        if piece == HIT_START:
            inside = True
        elif piece == HIT_END:
            inside = False
        elif piece:
            html.append(Markup("<mark>{}</mark>").format(piece) if inside else escape(piece))
    return Markup("").join(html)
