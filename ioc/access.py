"""EPICS access security for the served PVs: a lab's rules file, read-only serving, ASG choice.

The IOC always runs access security: its own rule traps every write so that the put checks see what
a CA client sent (:mod:`ioc.puttrap`). With ``--acf FILE`` a standard EPICS access security file
(UAG, HAG, ASG with RULEs, INP and CALC) replaces that rule; every ``WRITE`` rule in it is made
``TRAPWRITE`` so the put checks keep working, and every ``READ`` rule too, so that a PVA put it
refuses still reaches the trap and is counted (PutsRefused, LastRefusal). ``--read-only`` serves
every PV read-only. ``--asg ASG=SELECTOR`` puts the PVs of a pyrogue group (``group:Expert``: the
Variable or a Device above it is in the group) or of paths matching a pattern (``root.Expert.*``)
into the access security group ``ASG``; the first rule that matches a PV wins, the others stay in
``DEFAULT``.

Host rules (HAG) are matched against the client's IP address on both protocols: the IOC sets
EPICS's ``asCheckClientIP``, so the CA server ignores the host name a client claims, and the
names in a HAG are resolved to addresses when the file is loaded (PVA's QSRV2 always gives the
peer's address). The file is checked by EPICS's own parser before ``iocInit``: a file EPICS
refuses stops the start rather than leaving the IOC without access security.
"""

from __future__ import annotations

import fnmatch
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from softioc import softioc

from . import puttrap
from ._softioc import access_security_active, parse_access_file, use_access_file
from .selection import in_group
from .tree import Variable

#: Everything readable, nothing writable.
READ_ONLY_RULES = "ASG(DEFAULT) {\n    RULE(1, READ, TRAPWRITE)\n}\n"
#: The ASG of In records (read-only Variables), added to a lab's file that does not define it,
#: so that CA clients keep seeing those PVs without write access.
IN_RECORD_RULES = f"ASG({puttrap.READ_ONLY_GROUP}) {{\n    RULE(1, READ, TRAPWRITE)\n}}\n"
#: The ASG the IOC's config command PVs are in (DEFAULT when the file defines no such group).
CONFIG_ASG = "CONFIG"
_COMMENT = re.compile(r'("(?:[^"\\\n]|\\.)*")|#[^\n]*')
_TRAPPED_RULE = re.compile(r"RULE\s*\(\s*(\d+)\s*,\s*(READ|WRITE)\s*(?:,\s*(?:NO)?TRAPWRITE\s*)?\)")
_ASG_NAME = re.compile(r"[A-Za-z0-9_\-+:.\[\]<>;]+")


class AccessError(ValueError):
    """A rules file or an ASG selection that cannot be used."""


@dataclass(frozen=True)
class AsgRule:
    """``ASG=group:NAME`` or ``ASG=PATTERN``: which PVs go into access security group ``asg``."""

    asg: str
    group: str | None
    pattern: str | None

    def matches(self, var: Variable) -> bool:
        """True when the Variable or Command ``var`` is selected."""
        if self.group is not None:
            return in_group(var, self.group)
        return fnmatch.fnmatchcase(var.path, self.pattern or "")


def parse_asg_rule(text: str) -> AsgRule:
    """An ``--asg`` value: ``ASG=group:NAME`` or ``ASG=PATH_PATTERN``."""
    asg, sep, selector = text.partition("=")
    asg, selector = asg.strip(), selector.strip()
    if not sep or not selector or not _ASG_NAME.fullmatch(asg):
        raise AccessError(f"expected ASG=group:NAME or ASG=PATH_PATTERN, got {text!r}")
    if selector.startswith("group:"):
        group = selector[len("group:") :].strip()
        if not group:
            raise AccessError(f"no group name in {text!r}")
        return AsgRule(asg, group, None)
    return AsgRule(asg, None, selector)


def merged_rules(text: str) -> str:
    """A lab's rules with every READ and WRITE rule trapped (comments dropped)."""
    without_comments = _COMMENT.sub(lambda m: m.group(1) or "", text)
    return _TRAPPED_RULE.sub(r"RULE(\1, \2, TRAPWRITE)", without_comments)


def asg_of(var: Variable, rules: Sequence[AsgRule]) -> str | None:
    """The ASG the first matching rule gives ``var``, or None (DEFAULT)."""
    for rule in rules:
        if rule.matches(var):
            return rule.asg
    return None


@dataclass
class AccessSecurity:
    """What ``--acf``, ``--read-only`` and ``--asg`` asked for; installed before ``iocInit``."""

    acf: str | None = None
    read_only: bool = False
    asg_rules: tuple[AsgRule, ...] = ()

    def __post_init__(self) -> None:
        if self.acf and self.read_only:
            raise AccessError("--acf and --read-only exclude each other")

    def rules_text(self) -> str | None:
        """The rules EPICS loads, or None for the IOC's own (everyone writes, trapped)."""
        if self.read_only:
            return READ_ONLY_RULES
        if self.acf:
            try:
                text = merged_rules(Path(self.acf).read_text())
            except (OSError, UnicodeDecodeError) as error:
                raise AccessError(
                    f"cannot read access security file {self.acf}: {error}"
                ) from error
            if not re.search(rf"ASG\s*\(\s*{puttrap.READ_ONLY_GROUP}\s*\)", text):
                text += IN_RECORD_RULES
            return text
        return None

    def install(self, records: Iterable[tuple[str, Any]], config_records: Iterable[str]) -> None:
        """Give ``records`` ((record name, variable) pairs) their ASG and load the rules.

        Call after the records are loaded and after :func:`ioc.puttrap.install`, before
        ``iocInit``. Raises :class:`AccessError` when EPICS refuses the rules.
        """
        assignments = [(name, asg_of(var, self.asg_rules)) for name, var in records]
        assignments += [(name, CONFIG_ASG) for name in config_records]
        _set_asgs([(name, asg) for name, asg in assignments if asg])
        text = self.rules_text()
        if text is None:
            return
        rules = _write_temporary("rogue-ioc-", ".acf", text)
        if not parse_access_file(str(rules)):
            source = self.acf or "the read-only rules"
            raise AccessError(f"EPICS refused the access security file {source} (see above)")
        use_access_file(str(rules))


def check_active() -> None:
    """After ``iocInit``: raise :class:`AccessError` unless EPICS access security is on."""
    if not access_security_active():
        raise AccessError("EPICS access security did not start (see above)")


def _set_asgs(assignments: list[tuple[str, str]]) -> None:
    """Set the ASG field of existing records (a database of ``record("*", NAME)`` entries)."""
    if not assignments:
        return
    text = "".join(
        f'record("*", "{name}") {{\n    field(ASG, "{asg}")\n}}\n' for name, asg in assignments
    )
    path = _write_temporary("rogue-ioc-asg-", ".db", text)
    try:
        softioc.dbLoadDatabase(str(path))
    except Exception as error:  # softioc raises what EPICS's status says
        raise AccessError(f"EPICS refused the ASG assignments: {error}") from error


def _write_temporary(prefix: str, suffix: str, text: str) -> Path:
    """A file in the temporary directory holding ``text`` (EPICS reads it by name)."""
    with tempfile.NamedTemporaryFile("w", prefix=prefix, suffix=suffix, delete=False) as out:
        out.write(text)
    return Path(out.name)
