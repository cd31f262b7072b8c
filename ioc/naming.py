"""PV names for served Variables: path → name, the 60-character limit, short names.

Pure functions. An EPICS record name is at most 60 characters; a longer full PV name is served
through a deterministic short record name with the full name as a record alias, so clients on
both protocols use the readable full name. The short name is the one Rogue's own epicsV7 server
gives (`<base>:tail_<10 hex of sha1("<base>:<suffix>")>`), so lists made for it keep working.
Names are checked, never mangled: a character EPICS
does not allow, an overlong base or two owners of one name is a `NamingError` naming the culprits.
"""

import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass

MAX_RECORD_NAME = 60
"""EPICS record name limit (characters). Aliases may be longer."""

HASH_CHARS = 10
"""Hex characters of the sha1 of the full name in a short record name (as Rogue's epicsV7)."""

SHORT_TAG = "tail_"
"""What a short record name's suffix starts with (as Rogue's epicsV7)."""

IOC_PVS = {"heartbeat": "IOC:Heartbeat"}
"""Suffixes (after `<base>:`) of the PVs the IOC serves about itself."""

STATUS_PVS = {
    "StartTime": "IOC start time (UTC, ISO 8601)",
    "Uptime": "seconds since the IOC started",
    "Version": "rogue-ioc version",
    "Software": "versions of rogue-ioc and its stack",
    "CpuLoad": "process CPU, % of one core",
    "Rss": "process resident memory",
    "RecordCount": "records in this IOC",
    "PvCount": "PV names this IOC serves",
    "CaClients": "Channel Access clients (circuits)",
    "PvaClients": "PV Access clients (connections)",
    "PutsAccepted": "client puts accepted",
    "PutsRefused": "client puts refused",
    "UpdateRate": "tree updates received per second",
    "LastRefusal": "the last refused put and why",
    "PvNames:Chunks": "chunks of the packed PV name list",
}
"""The IOC status PVs (`ioc.status`): suffix after `<base>:IOC:` → description (DESC, ≤ 40)."""
CHUNK_NAME = "PvNames:{}"
"""Suffix after `<base>:IOC:` of the i-th chunk of the packed name list."""

ALLOWED_CHARS = frozenset(string.ascii_letters + string.digits + "_-+:[]<>;")
"""Characters the EPICS Application Developer's Guide allows in record and alias names.

'.' separates the field name, and space, quotes, '$', '{', '}' and control characters are
rejected or warned about by dbStatic, so none of them can appear in a served name.
"""

BAD_FIRST_CHARS = frozenset("-+[")
"""Allowed characters that dbStatic still warns about at the start of a name."""


class NamingError(ValueError):
    """A PV name that cannot be served: illegal characters, too long a base, or a collision."""


@dataclass(frozen=True)
class RecordName:
    """The names of one served PV: `full` is what clients use, `record` is the record's name."""

    full: str
    record: str

    @property
    def aliased(self) -> bool:
        """True when the record has a short name and `full` is served as its alias."""
        return self.full != self.record


def pv_name(base: str, path: str) -> str:
    """Automatic-mode PV name of a Variable: `<base>:<path with '.' replaced by ':'>`."""
    return f"{base}:{path.replace('.', ':')}"


def heartbeat_name(base: str) -> str:
    """Name of the IOC's own heartbeat PV under `base`."""
    return f"{base}:{IOC_PVS['heartbeat']}"


def status_name(base: str, suffix: str) -> str:
    """Full name of the IOC status PV `suffix` (see `STATUS_PVS`) under `base`."""
    return f"{base}:IOC:{suffix}"


def short_name(base: str, full: str) -> str:
    """Rogue epicsV7's short record name for `full`: `<base>:tail_<first 10 hex of a sha1>`.

    The sha1 is of `<base>:<suffix>`, the suffix being `full` after `<base>:`; a name that is not
    under `base` (possible with a pvMap) is its own suffix, exactly as Rogue computes it.
    """
    hashed = full if full.startswith(f"{base}:") else f"{base}:{full}"
    digest = hashlib.sha1(hashed.encode()).hexdigest()[:HASH_CHARS]
    return f"{base}:{SHORT_TAG}{digest}"


def name_problem(name: str) -> str | None:
    """Why `name` is not a valid EPICS record/alias name, or None when it is valid."""
    if not name:
        return "the name is empty"
    bad = sorted(set(name) - ALLOWED_CHARS)
    if bad:
        shown = " ".join(repr(c) for c in bad)
        return f"{name!r} contains characters EPICS names do not allow: {shown}"
    if name[0] in BAD_FIRST_CHARS:
        return f"{name!r} starts with {name[0]!r}, which EPICS names must not start with"
    return None


def prefix_problem(base: str) -> str | None:
    """Why `base` cannot be a PV prefix, or None. The IOC adds the ':' after it itself."""
    if base.endswith(":"):
        return (
            f"PV prefix {base!r} ends with ':'; the IOC adds the separator itself "
            f"(use {base.rstrip(':')!r} to serve '{base.rstrip(':')}:root:...')"
        )
    problem = name_problem(base)
    return f"PV prefix {base!r} is not usable: {problem}" if problem else None


def plan_names(
    base: str,
    names: Mapping[str, str],
    reserved: Mapping[str, str] | None = None,
) -> dict[str, RecordName]:
    """Record names for `names` ({variable path: full PV name}), keyed by path.

    A full name of at most `MAX_RECORD_NAME` characters is its own record name; a longer one
    gets `short_name(base, full)` with the full name as its alias. `reserved` holds names the
    IOC serves itself ({record name: owner description}, e.g. the heartbeat); they must fit a
    record name and nobody else may use them. Every problem found is reported in one
    `NamingError`, each naming the path (or owner) concerned.
    """
    problem = prefix_problem(base)
    if problem:
        raise NamingError(problem)
    short_length = len(base) + 1 + len(SHORT_TAG) + HASH_CHARS
    if short_length > MAX_RECORD_NAME:
        raise NamingError(
            f"PV prefix {base!r} is too long: short record names "
            f"'<prefix>:{SHORT_TAG}<{HASH_CHARS} hex>' "
            f"would have {short_length} characters, the EPICS limit is {MAX_RECORD_NAME}"
        )

    problems: list[str] = []
    owners: dict[str, str] = {}

    def claim(name: str, owner: str) -> None:
        other = owners.setdefault(name, owner)
        if other != owner:
            problems.append(f"PV name {name!r} is used by both {other} and {owner}")

    for name, owner in (reserved or {}).items():
        problem = name_problem(name)
        if problem is None and len(name) > MAX_RECORD_NAME:
            problem = f"{name!r} is longer than {MAX_RECORD_NAME} characters"
        if problem:
            problems.append(f"{owner}: {problem}")
        claim(name, owner)

    plan: dict[str, RecordName] = {}
    for path, full in names.items():
        problem = name_problem(full)
        if problem:
            problems.append(f"variable {path!r}: {problem}")
            continue
        record = full if len(full) <= MAX_RECORD_NAME else short_name(base, full)
        plan[path] = RecordName(full=full, record=record)
        owner = f"variable {path!r}"
        claim(full, owner)
        if record != full:
            claim(record, owner)

    if problems:
        raise NamingError("; ".join(problems))
    return plan
