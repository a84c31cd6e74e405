"""The filter language of the runs table and `aetui runs`: words, each a condition, all must hold.

    done            a status word: the status field only (never a label that contains it)
    train           a kind word: the kind field only (`train done` no longer matches a
                    sweep whose label says bn=train)
    #12 or 12       the job with that id, or text that contains the word
    tag:best        jobs tagged `best`
    lr=1e-3         a setting of the spec (or a model option) or a metric of the run:
    heldout_mse<0.01  compared as numbers when the value is one; =, !=, <, <=, >, >=
    anything else   text in the label, kind, model, device or note (any case)

Parsing is plain Python (no SQLAlchemy), so the CLI checks a filter before it opens the
store; `store.queries` turns the terms into SQL, the one place a filter is evaluated.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from store.states import JOB_KINDS, STATUSES

_COMPARE = re.compile(r"([A-Za-z_][A-Za-z0-9_.]*)\s*(<=|>=|!=|=|<|>)\s*(.+)")
OPS = ("=", "!=", "<", "<=", ">", ">=")
TAG_PREFIX = "tag:"
TAG = re.compile(r"[A-Za-z0-9_.+-]{1,64}")


@dataclass(frozen=True)
class Term:
    """One word of a filter: what it tests (`what`) and with which value."""

    what: str  # status, kind, id, tag, compare, text
    value: str
    key: str = ""  # compare: the setting or metric
    op: str = ""  # compare: one of OPS

    @property
    def number(self) -> float | None:
        """The value as a number, when it is one (compare terms are numeric then)."""
        try:
            number = float(self.value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None


def parse(text: str) -> list[Term]:
    """The terms of a filter text (words split on spaces; `a < 1` may be spaced)."""
    text = re.sub(r"\s*(<=|>=|!=|=|<|>)\s*", r"\1", text or "")
    terms = []
    for word in text.split():
        low = word.lower()
        if low in STATUSES:
            terms.append(Term("status", low))
        elif low in JOB_KINDS:
            terms.append(Term("kind", low))
        elif low.startswith(TAG_PREFIX) and len(low) > len(TAG_PREFIX):
            terms.append(Term("tag", word[len(TAG_PREFIX):]))
        elif (m := _COMPARE.fullmatch(word)) is not None:
            terms.append(Term("compare", m.group(3), key=m.group(1), op=m.group(2)))
        elif low.lstrip("#").isdigit() and len(low) < 19:
            terms.append(Term("id", low))  # the job, or text with the word (`#12`: "sweep of #12")
        else:
            terms.append(Term("text", low))
    return terms


def check_tag(tag: str) -> str:
    """A tag as stored, or ValueError: letters, digits and `_ . + -`, at most 64."""
    if not TAG.fullmatch(tag):
        raise ValueError(f"bad tag {tag[:70]!r}: use letters, digits and _ . + - (at most 64)")
    return tag
