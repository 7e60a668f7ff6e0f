"""Reading a person's answers of a period costs what that person answered, not what their
team answered (bot/store/reflection.py): the round's start, the summary and the review read
them on a turn. Counted in SQLite's virtual machine steps, not in time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.store import Store

PERIOD = "2026-Q4"


def steps(store: Store, call: Callable[[], Any]) -> int:
    """The SQLite virtual machine steps a call takes (in units of 100)."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    store.conn.set_progress_handler(tick, 100)
    try:
        call()
    finally:
        store.conn.set_progress_handler(None, 0)
    return count[0]


def answer(store: Store, member: int, team: int, n: int) -> None:
    run = store.start_run(member, team, "tour", PERIOD)
    for k in range(n):
        store.save_answer(run_id=run, member_id=member, team_id=team, role="professional",
                          theme_id="t1", question_id=f"q{k}", period=PERIOD,
                          content_version="1", scale=3)


def test_a_persons_answers_are_read_by_person_not_by_team(tmp_path: Path) -> None:
    store = Store(tmp_path / "t.db")
    with store.transaction():
        team = store.create_team("Wijkteam Noord")
        me = store.get_or_create_member("telegram", "me", "Ik")
        store.join_team(me, team, "professional")
        answer(store, me, team, 3)
        others = []
        for i in range(40):  # a large team that answered a lot this quarter
            other = store.get_or_create_member("telegram", f"o{i}", f"Collega {i}")
            store.join_team(other, team, "professional")
            answer(store, other, team, 29)
            others.append(other)

    def reads() -> list[Any]:
        return [store.period_answers(me, team, PERIOD),
                store.period_answer_runs(me, team, PERIOD),
                store.latest_answer_period(me, team)]

    found = reads()
    assert len(found[0]) == len(found[1]) == 3 and found[2] == PERIOD
    alone = steps(store, reads)
    # the team's 1,163 answers of the quarter would each be looked at
    assert alone < 10, alone  # 3 here; 176 when the team's quarter is searched
    store.close()


def test_a_persons_answers_carry_what_the_summary_and_the_question_show(tmp_path: Path) -> None:
    """period_answers and answer_row hand out the answer's values and its run, no more (the
    summary, the list of answers and a question's "previous answer" read these)."""
    from bot.store.reflection import ANSWER_VALUES

    store = Store(tmp_path / "t.db")
    with store.transaction():
        team = store.create_team("Wijkteam Noord")
        me = store.get_or_create_member("telegram", "me")
        store.join_team(me, team, "professional")
        run = store.start_run(me, team, "tour", PERIOD)
        store.save_answer(run_id=run, member_id=me, team_id=team, role="professional",
                          theme_id="t1", question_id="q1", period=PERIOD, content_version="1",
                          scale=4)
        store.set_answer_text(run, "q1", "Goed overleg")
        store.set_answer_share(run, "q1", True)
    found = store.period_answers(me, team, PERIOD)
    expected = {"question_id": "q1", "run_id": run, "scale": 4, "text": "Goed overleg",
                "share_text": 1}
    assert found == {"q1": expected} and tuple(expected) == ANSWER_VALUES
    assert store.answer_row(run, "q1") == expected
    assert store.answer_row(run, "q2") is None
    store.close()
