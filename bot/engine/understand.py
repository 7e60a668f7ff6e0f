"""Understanding what people type: scale answers and option choices, forgiving but careful.

People type "4.", "vier", "helemaal wel", "jaa", "verdr" or "één thema". This module turns such
input into the scale value or the option they meant, and into nothing when it is not clear:
a wrong guess is worse than asking again, so every rule is conservative.

- A scale answer is a whole number 1-5 in any script's decimal digits ("4", " 4 ", "4.", "４",
  "٤"), a Dutch number word ("vier", "één"), or one of the question's own anchor words ("nooit",
  "heel vaak"; a small typo allowed) for 1 and 5.
- An option is chosen by its number, by its label (or the label's head before a comma or
  parenthesis), and, when ``loose``, by a close typo of that, a prefix of it, or words it
  contains. Values are never matched from typed text: they are button data, not words.
- Typos must keep the first letter and stay within a small edit distance; an answer that holds
  a negation ("niet", "nee", "geen") never picks an option without one; two options equally
  likely means no match.

Pure functions, no engine or store: the engine asks, the flows decide what a match does.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

__all__ = [
    "NUMBER_WORDS",
    "edit_distance",
    "match_choice",
    "match_scale",
    "normalize",
    "parse_number",
]

#: Dutch number words for 1..5 (accents are folded away first: "één" -> "een")
NUMBER_WORDS: dict[str, int] = {"een": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5}
#: words that say "no": such an answer never picks an option without one of them
NEGATIONS = frozenset({"nee", "neen", "niet", "geen", "nooit"})
#: words too common to tell options apart
STOPWORDS = frozenset({
    "ik", "je", "jij", "u", "we", "wij", "ze", "de", "het", "een", "en", "of", "op", "in",
    "van", "voor", "met", "mee", "doe", "naar", "is", "dat", "die", "dit", "wil", "graag",
    "maar", "ook", "nog", "dan", "te", "aan", "er", "ben", "heb", "mijn", "door", "bij", "om",
    "als", "wat", "hoe", "wel", "toch", "even", "alsjeblieft", "aub", "please", "liever",
    "hoor", "dank", "bedankt", "dankjewel",
})
#: answers longer than this are sentences, not picks of an option
MAX_LOOSE_WORDS = 6

_PUNCT = re.compile(r"[^\w\s]|_")
_NUMBERED = re.compile(r"^\d+\.\s+")
_APOSTROPHES = re.compile(r"['’‘`´]")


def normalize(text: str) -> str:
    """Lower case, accents folded ("één" -> "een"), punctuation removed, spaces collapsed.

    Apostrophes are dropped without a space ("thema's" -> "themas"). Only canonical
    decomposition is used, so "²" or "①" do not turn into digits.
    """
    # ASCII (most typed text) has nothing to decompose or fold beyond lower case
    plain = text.lower() if text.isascii() else _fold(text)
    plain = _APOSTROPHES.sub("", plain)
    return " ".join(_PUNCT.sub(" ", plain).split())


def _fold(text: str) -> str:
    """Case folded and accents removed: canonical decomposition without combining marks."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def parse_number(raw: str) -> int | None:
    """A whole number typed on its own, in any script's decimal digits ("4", "4.", "４", "٤").

    ``str.isdecimal`` rather than ``isdigit``: "²" and "①" are digits that ``int`` refuses.
    """
    text = raw.strip().rstrip(".!)").strip()
    if text and text.isdecimal():
        return int(text)
    return None


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn ``a`` into ``b``."""
    if a == b:
        return 0
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _max_typos(length: int) -> int:
    """How many edits a typed word of this length may be off: none below 3 letters."""
    if length < 3:
        return 0
    if length < 8:
        return 1
    return 2


def _close(typed: str, target: str) -> bool:
    """A typo of ``target``: same first letter, within the edit budget of the typed length."""
    if not typed or not target or typed[0] != target[0]:
        return False
    return edit_distance(typed, target) <= _max_typos(len(typed))


# -- scales ---------------------------------------------------------------------------------


def match_scale(raw: str, labels: Sequence[str] | None = None, *, words: bool = True,
                low: int = 1, high: int = 5) -> int | None:
    """The scale value ``raw`` means, or None.

    ``labels`` are the anchors (what 1 and 5 mean); with ``words=False`` only digits count
    (where a word could just as well be free text).
    """
    n = parse_number(raw)
    if n is not None:
        return n if low <= n <= high else None
    if not words:
        return None
    text = normalize(raw)
    if not text:
        return None
    if text in NUMBER_WORDS:
        value = NUMBER_WORDS[text]
        return value if low <= value <= high else None
    if not labels:
        return None
    anchors = [(normalize(labels[0]), low), (normalize(labels[-1]), high)]
    exact = {v for a, v in anchors if text == a}
    if len(exact) == 1:
        return exact.pop()
    near = {v for a, v in anchors if _close(text, a)}
    return near.pop() if len(near) == 1 else None


# -- choices --------------------------------------------------------------------------------


@lru_cache(maxsize=1024)
def _keys(label: str) -> tuple[str, ...]:
    """The forms of a label that count as typing it: whole, without its number, its head.
    Labels are few (buttons, options) and asked about every typed turn: made once each."""
    bare = _NUMBERED.sub("", label)
    keys = [normalize(label), normalize(bare)]
    head = bare.split(",")[0].split(" (")[0]
    keys.append(normalize(head))
    return tuple(dict.fromkeys(k for k in keys if k))


@lru_cache(maxsize=1024)
def _label_words(label: str) -> tuple[str, ...]:
    """A label's words without its number, normalised (made once per label)."""
    return tuple(normalize(_NUMBERED.sub("", label)).split())


def _content_words(text: str) -> list[str]:
    return [w for w in text.split() if w not in STOPWORDS and not w.isdecimal()]


def _word_score(typed: list[str], label_words: list[str]) -> int:
    """2 per typed word found in the label, 1 per typed word that is a typo or a prefix of one."""
    score = 0
    for word in typed:
        if word in label_words or (word in NEGATIONS and any(w in NEGATIONS for w in label_words)):
            score += 2
        elif any(_close(word, lw) or (len(word) >= 4 and lw.startswith(word))
                 for lw in label_words):
            score += 1
    return score


def _typo_possible(text: str, keys: Sequence[tuple[Sequence[str], str]]) -> bool:
    """Whether ``text`` is a close typo or the start of any option's label: with ``"typo"``
    the only way past the exact forms (below, checked once for every option before the
    sentence's words are looked at: a sentence typed as free text, the common case, stops
    here)."""
    return len(text) >= 3 and any(_close(text, k) or k.startswith(text)
                                  for ks, _ in keys for k in ks)


def match_choice(raw: str, choices: Sequence[Sequence[str]], *, numbers: bool = True,
                 loose: str = "words") -> str | None:
    """The value of the option ``raw`` (typed text) picks, or None.

    ``choices`` are ``(label, value)`` pairs as shown. ``numbers``: a typed number picks the
    option with that number. ``loose``: ``"none"`` (number and label only), ``"typo"`` (also
    a close typo or a prefix of the whole label; for prompts that also take free text, where a
    sentence must never be mistaken for an option) or ``"words"`` (also the words of a label).
    """
    if not raw.strip() or not choices:
        return None
    n = parse_number(raw)
    if n is not None:
        if numbers and 1 <= n <= len(choices):
            return choices[n - 1][1]
        return None
    text = normalize(raw)
    if not text:
        return None
    keys = [(_keys(label), value) for label, value in choices]
    exact = {value for ks, value in keys if text in ks}
    if exact:
        return exact.pop() if len(exact) == 1 else None
    if loose == "none" or (loose == "typo" and not _typo_possible(text, keys)):
        return None
    typed_words = text.split()
    negated = any(w in NEGATIONS for w in typed_words)
    labels_words = [_label_words(label) for label, _ in choices]
    negative = [any(w in NEGATIONS for w in words) for words in labels_words]
    # A "no" counts only when its other words (if any) are about the options: "niet delen",
    # "ik doe niet mee", "liever niet"; but not "ik weet het niet" or "ja, maar niet nu".
    all_label_words = [w for words in labels_words for w in words]
    if negated and not all(w in NEGATIONS or _word_score([w], all_label_words)
                           for w in _content_words(text)):
        return None
    plain_no = negated and sum(negative) == 1
    scores: dict[str, int] = {}
    for (ks, value), label_words, is_negative in zip(keys, labels_words, negative, strict=True):
        if negated and not is_negative:
            continue  # "nee, ik doe niet mee" never picks "Ja, ik doe mee"
        score = 0
        if len(text) >= 3 and any(_close(text, k) or k.startswith(text) for k in ks):
            score = 3  # the whole answer is a typo or the start of this label
        elif loose == "words" and len(typed_words) <= MAX_LOOSE_WORDS:
            score = _word_score(_content_words(text), _content_words(" ".join(label_words)))
            if plain_no:
                score = max(score, 1)  # the one option that says no
        if score:
            scores[value] = score
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    if len(ranked) > 1 and ranked[1][1] == ranked[0][1]:
        return None  # two options equally likely: ask again
    return ranked[0][0]
