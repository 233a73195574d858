"""A user's or a file's string shown in the page as exactly those characters: never markup (no link, image, colour,
LaTeX, emoji shortcode or HTML), never a crash (lone surrogates, controls, bidi marks), never a flood (bounded).
Every place that puts such a string into markdown (st.markdown, caption, info, warning, error, success, toast,
a label) goes through `plain` or `code`."""
from __future__ import annotations

import re

from models import text as stored

JOINER = "\u2060"  # WORD JOINER: zero width, not a break
SHOWN_MAX = 2000  # characters of one string shown (a note's length)
_MARKUP = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character: CommonMark escapes each one


def plain(value, limit: int = SHOWN_MAX, lines: bool = False) -> str:
    """`value` (a string, an exception, anything) as markdown that renders its characters as they are: printable,
    at most `limit` characters, every punctuation character escaped (line breaks kept where `lines`)."""
    shown = _MARKUP.sub(r"\\\1", stored.printable(str(value), limit, lines))
    # GFM links bare addresses (http://, www., a@b.c) and emoji shortcodes (:name:) are found in the parsed text,
    # after escapes: an invisible word joiner after each ':' and '@' and inside 'www.' leaves nothing to match
    shown = re.sub(r"(?i)(www)(?=\\\.)", "\\1" + JOINER, shown.replace("\\:", "\\:" + JOINER)
                   .replace("\\@", "\\@" + JOINER))
    return shown.replace("\n", "  \n") if lines else shown


def code(value, limit: int = 200) -> str:
    """`value` as a markdown code span, character for character; its own backquotes, which could close the span,
    become a look-alike."""
    return "`" + stored.printable(str(value), limit).replace("`", "ˋ") + "`"
