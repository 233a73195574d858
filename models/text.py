"""Text a person or a file gave that the lab shows back (a run's name and note, a status message): printable and
bounded, whatever the file held. How it is shown safely (never as markup) is the UI's part: ui/text.py."""
from __future__ import annotations

import unicodedata

NAME_MAX, NOTE_MAX = 60, 2000  # characters of a run's name and of its note
MESSAGE_MAX = 2000  # characters of a message read from a file (a run's status)
_DROPPED = {"Cc", "Cf", "Cs", "Co"}  # controls, format (bidi overrides, zero widths), surrogates, private use


def printable(text, limit: int, lines: bool = False) -> str:
    """`text` with lone surrogates as U+FFFD, control and format characters (bidi overrides, zero widths) dropped,
    line breaks kept only where `lines` (else spaces), at most `limit` characters (cut with '…'); "" for a non-string.
    The work is bounded by `limit`, not by the text: a megabyte of note costs what 2,000 characters cost."""
    if not isinstance(text, str):
        return ""
    text = text[:4 * limit + 8].encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    kept = []
    for c in text:
        if c in "\n\r\u2028\u2029\x85\t":
            c = "\n" if lines and c != "\t" else " "
        elif unicodedata.category(c) in _DROPPED:
            continue
        kept.append(c)
        if len(kept) > limit:
            break
    out = "".join(kept).replace("\n\n\n", "\n\n")
    return out if len(out) <= limit else out[:limit - 1] + "…"


def is_printable(text: str, limit: int, lines: bool = False) -> bool:
    """Whether `text` is shown as it is (nothing dropped, replaced or cut)."""
    return printable(text, limit, lines) == text
