"""The console chat: try the bot in a terminal, or drive it from scripts (``--jsonl``).

Interactive mode shows numbered choices; type the number, the word, free text or a /command.
JSON-lines mode prints each reply as one JSON object and reads one input per line.
"""

from __future__ import annotations

import json
import sys
from typing import TextIO

from bot.channel import ChatEngine
from bot.engine.messages import Incoming, Reply, parse_command, scale_ends

PLATFORM = "console"


def parse_line(line: str, user_id: str) -> Incoming:
    """One typed line as an Incoming event (numbers and words are matched by the engine)."""
    text = line.rstrip("\r\n")
    command = parse_command(text)
    if command is not None:
        name, args = command
        return Incoming(PLATFORM, user_id, user_id, "command", text=text, command=name,
                        args=args)
    return Incoming(PLATFORM, user_id, user_id, "text", text=text)


def render_text(reply: Reply) -> str:
    """Numbered options under the text, the way Matrix shows them too."""
    lines = [reply.text] if reply.text else []
    if reply.expects == "scale" and reply.scale_labels:
        ends = scale_ends(reply)  # the engine's questions already say what 1 and 5 mean
        if ends:
            lines.append(f"  [1 = {ends[0]} … 5 = {ends[1]}]")
    elif reply.choices and not reply.numbered:
        lines += [f"  - {c.label}" for c in reply.choices]
    elif reply.choices:
        lines += [f"  {n}. {c.label}" for n, c in enumerate(reply.choices, 1)]
    for link in reply.links:
        lines.append(f"  ({link.label}: {link.url})")
    if reply.image:
        lines.append(f"  [afbeelding: {reply.image[0]}, {len(reply.image[1])} bytes]")
    if reply.document:
        lines.append(f"  [bijlage: {reply.document[0]}, {len(reply.document[1])} bytes]")
    return "\n".join(lines)


def run_console(
    engine: ChatEngine,
    user_id: str,
    *,
    jsonl: bool = False,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
) -> None:
    """Chat until end of input; the conversation's state stays in the store."""

    def show(replies: list[Reply]) -> None:
        for reply in replies:
            if jsonl:
                stdout.write(json.dumps(reply.to_json(), ensure_ascii=False) + "\n")
            else:
                stdout.write(render_text(reply) + "\n\n")
        stdout.flush()

    # where the conversation is; a new one starts with /start
    show(engine.current_prompt(PLATFORM, user_id) or engine.handle(parse_line("/start", user_id)))
    while True:
        if not jsonl:
            stdout.write("> ")
            stdout.flush()
        line = stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        show(engine.handle(parse_line(line, user_id)))
