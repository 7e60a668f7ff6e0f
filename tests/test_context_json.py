"""The conversation context's JSON (bot/store: encode_context / decode_context) is the text the
stdlib encoder wrote before orjson did it: existing rows, `json_extract` in SQL and exports read
the same thing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.store import Conversation, Store, decode_context, encode_context


def stdlib(context: dict[str, Any]) -> str:
    return json.dumps(context, ensure_ascii=False, separators=(",", ":"))


scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text()
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(), values, max_size=8))
def test_encoding_is_the_stdlib_text(context: dict[str, Any]) -> None:
    text = encode_context(context)
    assert text == stdlib(context)
    assert decode_context(text) == json.loads(text) == context


def test_what_orjson_does_not_take_goes_the_stdlib_way() -> None:
    # int keys become strings as with the stdlib; a huge int and a tuple too
    context: dict[Any, Any] = {1: "a", "big": 2**70, "pair": (1, "é"), "s": "\u2028 \x00 ✅"}
    assert encode_context(context) == stdlib(context)


def test_a_stored_context_reads_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db")
    context = {"_p": {"ex": "scale", "ch": [], "sl": ["Helemaal niet", "Helemaal wel"]},
               "team_label": "Wijkteam Noord – Zuid ✅", "i": 3, "done": {"q1": 7}}
    with store.transaction():
        store.save_conversation(Conversation(None, "telegram", "c1", None, "menu.main",
                                             context, 0, user_id="u1"))
    raw = store.conn.execute("SELECT context FROM conversations").fetchone()[0]
    assert raw == stdlib(context)
    loaded = store.load_conversation("telegram", "u1")
    assert loaded is not None and loaded.context == context
    store.close()


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text() | st.integers(-1000, 1000), values, max_size=6),
       st.dictionaries(st.integers(-5, 5) | st.booleans(), scalars, max_size=3))
def test_non_string_keys_anywhere_are_the_stdlib_text(context: dict[Any, Any],
                                                      nested: dict[Any, Any]) -> None:
    # the fast path takes string keys only; a non-string key, also a nested one, takes the
    # slower paths and still writes the stdlib's text
    context["nested"] = [nested]
    try:
        expected = stdlib(context)
    except (TypeError, ValueError):  # keys the stdlib refuses, or a clash it writes twice
        return
    assert encode_context(context) == expected
