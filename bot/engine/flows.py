"""Dialogue flows: YAML graphs of states, prompts and transitions (``dialogues/*.yaml``).

A flow file names its states; each state has a prompt (a text key from ``texts.yaml`` or a
Python renderer), what it expects (choice, scale, text) and transitions. A transition fires on an
event (``choice``, ``scale``, ``text``, ``next`` for automatic states, or ``cmd_<name>`` for a
command), may be guarded by named conditions (``if`` / ``unless``) and runs named actions
(``do``). Names take one optional argument after a colon: ``value:ja``, ``set_role:manager``.
``commands.yaml`` declares the commands and the transitions valid in every state (``any``).
"""

from __future__ import annotations

import functools
import os
import string
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.yamlio import ConfigError, load_model

DEFAULT_DIALOGUES_DIR = Path(__file__).resolve().parents[2] / "dialogues"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ChoiceSpec(_Strict):
    label: str
    value: str


class TransitionSpec(_Strict):
    event: str
    to: str | None = None
    if_: list[str] = Field(default_factory=list, alias="if")
    unless: list[str] = Field(default_factory=list)
    do: list[str] = Field(default_factory=list)

    @field_validator("if_", "unless", "do", mode="before")
    @classmethod
    def _one_or_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class StateSpec(_Strict):
    say: str | None = None
    render: str | None = None
    expects: Literal["choice", "scale", "text", "none"] = "none"
    choices: list[ChoiceSpec] | str | None = None
    #: an automatic state: the engine fires ``next`` as soon as it is entered
    auto: bool = False
    #: free text is also accepted when the state expects a choice
    accepts_text: bool = False
    #: the prompt shows the person's own data (answers): only ever sent to them alone
    personal: bool = False
    #: a typed whole number 1-5 is a (corrected) scale answer: event ``scale``; the options
    #: are then shown without numbers
    accepts_scale: bool = False
    #: text key of the prompt's short form, repeated after input that was not understood
    short: str | None = None
    #: a short side trip (reacting to the tip): the prompt the person came from stays open
    #: (transports leave its buttons), and the trip ends by going back to it quietly
    side_trip: bool = False
    transitions: list[TransitionSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _prompt_or_auto(self) -> StateSpec:
        if not self.auto and not (self.say or self.render):
            raise ValueError("a state needs 'say' or 'render' (or 'auto: true')")
        return self


class FlowSpec(_Strict):
    flow: str
    states: dict[str, StateSpec]


class CommandSpec(_Strict):
    help: str
    #: also usable in group chats
    group: bool = False
    aliases: list[str] = Field(default_factory=list)


class CommandsSpec(_Strict):
    commands: dict[str, CommandSpec]
    any: list[TransitionSpec] = Field(default_factory=list)


class TextsSpec(_Strict):
    texts: dict[str, str]


class Dialogues:
    """All flows, commands and texts, with states named ``flow.state``."""

    def __init__(
        self,
        flows: dict[str, FlowSpec],
        commands: CommandsSpec,
        texts: dict[str, str],
        files: dict[str, Path],
    ) -> None:
        self.flows = flows
        self.commands = commands
        self.texts = texts
        self.files = files
        self._placeholders: dict[str, frozenset[str]] = {}
        self.states: dict[str, StateSpec] = {
            f"{flow.flow}.{name}": spec for flow in flows.values() for name, spec in flow.states.items()
        }
        self.command_names: dict[str, str] = {}
        for name, spec in commands.commands.items():
            self.command_names[name] = name
            for alias in spec.aliases:
                self.command_names[alias] = name

    def qualify(self, flow: str, target: str) -> str:
        return target if "." in target else f"{flow}.{target}"

    def text(self, key: str, **values: object) -> str:
        template = self.texts[key]
        return template.format(**values) if values else template

    def placeholders(self, key: str) -> frozenset[str]:
        """The ``{names}`` a text fills in (cached: texts do not change after loading)."""
        found = self._placeholders.get(key)
        if found is None:
            found = frozenset(
                name for _, name, _, _ in string.Formatter().parse(self.texts[key]) if name
            )
            self._placeholders[key] = found
        return found


@functools.cache
def default_dialogues() -> Dialogues:
    """The dialogues (and texts) of ``dialogues/`` (or ``$TEAMSPIEGEL_DIALOGUES``), loaded once:
    for what is said outside a conversation (the schedule's monthly tips)."""
    return load_dialogues()


def load_dialogues(directory: Path | None = None) -> Dialogues:
    """Load and cross-check every dialogue file; errors name file, line and field."""
    directory = Path(directory or os.environ.get("TEAMSPIEGEL_DIALOGUES") or DEFAULT_DIALOGUES_DIR)
    if not directory.is_dir():
        raise ConfigError(f"{directory}: map met dialogen niet gevonden")
    commands_path = directory / "commands.yaml"
    texts_path = directory / "texts.yaml"
    commands = load_model(commands_path, CommandsSpec)
    texts = load_model(texts_path, TextsSpec).texts
    flows: dict[str, FlowSpec] = {}
    files: dict[str, Path] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name in {"commands.yaml", "texts.yaml"}:
            continue
        spec = load_model(path, FlowSpec)
        if spec.flow in flows:
            raise ConfigError(f"{path}:1: flow: '{spec.flow}' staat ook in {files[spec.flow]}")
        flows[spec.flow] = spec
        files[spec.flow] = path
    return Dialogues(flows, commands, texts, files)
