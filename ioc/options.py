"""Every setting of the `rogue-ioc` command, declared once: flag, variable, default, help.

`OPTIONS` is the only place a setting is written down. The argument parser of :mod:`ioc.cli`,
the environment defaults (:data:`ENV_DEFAULTS`), the way an environment value is read and the
option's help text all derive from its `Option`; adding a setting is one entry here (and the
code that uses it). A flag given on the command line overrides the environment variable; a flag
with an empty value (`--root=`) counts as not given, and so does an empty variable.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .selection import split_list

YES = ("yes", "true", "on", "1")
NO = ("no", "false", "off", "0")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

Form = Literal["text", "list", "words", "switch"]
"""How an option is given: one value; a comma-separated list (flag repeatable); a
space-separated list in the variable (flag repeatable); a yes/no switch (the flag means yes)."""


def root_spec(text: str) -> str:
    """argparse type of `--root`: `MODULE:CLASS`."""
    module, sep, name = text.partition(":")
    if not (module and sep and name) or ":" in name:
        raise argparse.ArgumentTypeError(f"expected MODULE:CLASS, got {text!r}")
    return text


def seconds(text: str) -> float:
    """argparse type of a duration: a finite number of seconds ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def log_level(text: str) -> str:
    """argparse type of `--log-level`: one of `LOG_LEVELS`, any case."""
    if text.upper() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.upper()


def yes_no(text: str) -> bool:
    """A yes/no setting: yes, true, on, 1 or no, false, off, 0 (any case)."""
    word = text.strip().lower()
    if word not in YES + NO:
        raise argparse.ArgumentTypeError(f"expected yes or no, got {text!r}")
    return word in YES


@dataclass(frozen=True)
class Option:
    """One setting: `--NAME` (underscores as dashes) and `IOC_NAME` unless `env` says otherwise.

    `default` is the text used when neither the flag nor the variable is given; an option of the
    form "text" whose default is empty is None when not given. `env` None: no variable.
    """

    name: str
    help: str
    default: str = ""
    form: Form = "text"
    metavar: str | None = None
    parse: Callable[[str], Any] | None = None
    commands: tuple[str, ...] = ("serve",)
    env: str | None = ""

    @property
    def flag(self) -> str:
        """The command-line flag."""
        return "--" + self.name.replace("_", "-")

    @property
    def variable(self) -> str | None:
        """The environment variable, or None."""
        return None if self.env is None else self.env or f"IOC_{self.name.upper()}"

    def help_text(self) -> str:
        """The help line: the option's help, then where else it comes from and its default."""
        if self.variable is None:
            return f"{self.help} (default %(default)s)"
        if self.form == "switch":
            return f"{self.help} (env {self.variable}=yes)"
        if self.default and self.form == "text":
            return f"{self.help} (env {self.variable}, default %(default)s)"
        return f"{self.help} (env {self.variable})"


TREE_COMMANDS = ("serve", "screens")
PREFIX_COMMANDS = ("serve", "health", "screens", "config", "list")

OPTIONS = (
    Option(
        "root",
        "the Root class to serve",
        "sim:SimRoot",
        metavar="MODULE:CLASS",
        parse=root_spec,
        commands=TREE_COMMANDS,
    ),
    Option("prefix", "PV name prefix", "SIM", commands=PREFIX_COMMANDS),
    Option(
        "include",
        "serve only Variables in these groups; repeatable or comma-separated",
        form="list",
        metavar="GROUP",
        commands=TREE_COMMANDS,
    ),
    Option(
        "exclude",
        "do not serve Variables in these groups (default NoServe); repeatable or comma-separated",
        form="list",
        metavar="GROUP",
        commands=TREE_COMMANDS,
    ),
    Option(
        "pvmap",
        "serve only the mapped Variables: YAML or JSON {variable path: PV name}",
        metavar="FILE",
        commands=TREE_COMMANDS,
    ),
    Option(
        "simulate_pyrogue",
        "without Rogue installed, 'import pyrogue' gives the simulator; --root may then also "
        "name a Device class, served on emulated memory",
        form="switch",
    ),
    Option(
        "dump",
        "write 'PV name -> path' lines to FILE after start, in Rogue epicsV7's format",
        metavar="FILE",
    ),
    Option(
        "dump_access",
        "end each --dump line with '  [access]' (RW, RO, WO, command, command with argument); "
        "not Rogue's format",
        form="switch",
    ),
    Option(
        "log_level",
        f"one of {', '.join(LOG_LEVELS)}",
        "INFO",
        metavar="LEVEL",
        parse=log_level,
    ),
    Option(
        "read_period",
        "period of the server's own reads of served Variables, 0 = off",
        "0",
        metavar="SECONDS",
        parse=seconds,
    ),
    Option(
        "autosave",
        "pyrogue YAML config file keeping the RW settings: restored at start and saved on change "
        "(screens: its PVs go on the top screen)",
        metavar="FILE",
        commands=TREE_COMMANDS,
    ),
    Option(
        "autosave_period",
        "also save every SECONDS, re-reading every setting",
        "60",
        metavar="SECONDS",
        parse=seconds,
    ),
    Option("acf", "EPICS access security file (UAG/HAG/ASG rules)", metavar="FILE"),
    Option("read_only", "serve every PV read-only", form="switch"),
    Option(
        "asg",
        "put PVs into an access security group: ASG=group:NAME or ASG=PATH_PATTERN; repeatable, "
        "first match wins (the variable: space separated)",
        form="words",
        metavar="ASG=SELECTOR",
    ),
    Option(
        "capacity",
        "buffer size of a growing string/array PV (bytes, or 64k, 4M); PATH may be a pattern like "
        "'root.*.Data'; repeatable or comma-separated",
        form="list",
        metavar="PATH=SIZE",
    ),
    Option(
        "capacity_file",
        "YAML or JSON {PATH: SIZE} of buffer sizes, under --capacity",
        metavar="FILE",
    ),
    Option(
        "allow_port_fallback",
        "start even when a configured port is taken, on the random port EPICS falls back to "
        "(default: a taken port is an error)",
        form="switch",
        env="IOC_PORT_FALLBACK",
    ),
    Option(
        "timeout",
        "timeout of each get",
        "3",
        metavar="SECONDS",
        parse=seconds,
        commands=("health",),
        env="IOC_HEALTH_TIMEOUT",
    ),
    Option(
        "timeout",
        "how long to wait for the IOC",
        "60",
        metavar="SECONDS",
        parse=seconds,
        commands=("config",),
        env=None,
    ),
)

ENV_DEFAULTS = {
    option.variable: option.default for option in OPTIONS if option.variable is not None
}
"""Defaults of every environment variable the command reads; the environment is laid over it."""


def settings(environ: Mapping[str, str]) -> dict[str, str]:
    """`ENV_DEFAULTS` with the values `environ` sets laid over it."""
    return ENV_DEFAULTS | {key: environ[key] for key in ENV_DEFAULTS if key in environ}


def of_command(command: str) -> list[Option]:
    """The options of `command`, in the order of `OPTIONS`."""
    return [option for option in OPTIONS if command in option.commands]


def add_options(parser: argparse.ArgumentParser, command: str, env: Mapping[str, str]) -> None:
    """Add the options of `command` to its parser, defaults from `env` (see `settings`)."""
    for option in of_command(command):
        text = env[option.variable] if option.variable else option.default
        if option.form == "switch":
            kwargs: dict[str, Any] = {"action": "store_true", "default": None}
        elif option.form in ("list", "words"):
            kwargs = {"action": "append", "metavar": option.metavar}
        else:
            kwargs = {"type": option.parse, "default": text, "metavar": option.metavar}
        parser.add_argument(option.flag, help=option.help_text(), **kwargs)


def finish(opts: argparse.Namespace, env: Mapping[str, str]) -> None:
    """Lay the environment under what the flags left unset and normalise empty values.

    Raises argparse.ArgumentTypeError naming the variable when a switch's value is no yes/no.
    """
    for option in of_command(opts.command):
        value = getattr(opts, option.name)
        text = env[option.variable] if option.variable else option.default
        if option.form == "list":
            value = split_list(value or [text]) or None
        elif option.form == "words":
            value = value or text.split() or None
        elif option.form == "switch" and value is None:
            value = _switch(option, text)
        elif option.form == "text" and not option.default:
            value = value or None
        setattr(opts, option.name, value)


def _switch(option: Option, text: str) -> bool:
    try:
        return yes_no(text) if text.strip() else False
    except argparse.ArgumentTypeError as exc:
        raise argparse.ArgumentTypeError(f"{option.variable}: {exc}") from exc


def documented(text: str, options: Iterable[Option] = OPTIONS) -> list[str]:
    """The flags and variables of `options` that `text` (the README) does not mention."""
    names = {name for option in options for name in (option.flag, option.variable) if name}
    return sorted(name for name in names if name not in text)
