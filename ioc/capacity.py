"""How big a record is made for a value that can grow: text and arrays.

An EPICS record's buffer is fixed when the record is built, so a Variable whose value can grow
(a ``str``, the Root's ``SystemLog``, an array kept by a LocalVariable such as a stream receiver's
last frame) gets a buffer sized by this policy. Sizes are in bytes. Defaults depend on the kind of
value; a lab overrides them per Variable path (exact or a shell-style pattern such as
``root.*.Data``) with ``--capacity PATH=SIZE`` or a YAML/JSON file of ``{PATH: SIZE}``.
A value that outgrows its record is never cut: the PV shows INVALID/HWLIMIT and the IOC logs it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

KIB = 1024
MIB = 1024 * KIB

#: A ``str`` Variable (pyrogue gives no length for it).
TEXT = 4 * KIB
#: The Root's ``SystemLog``: pyrogue keeps up to ``maxLog`` (default 1000) JSON records in it,
#: a few hundred bytes each and a few kB with a traceback.
SYSTEM_LOG = 4 * MIB
#: The Root's ``SystemLogLast``: one such record.
SYSTEM_LOG_LAST = 64 * KIB
#: An array whose length can change (one kept by a LocalVariable, e.g. a stream receiver's last
#: frame); arrays of a RemoteVariable have the fixed length of their registers instead. The
#: whole buffer is resident memory, so the default is modest: 64 Ki bytes of a frame.
GROWING_ARRAY = 64 * KIB

_SIZE = re.compile(r"\s*(\d+)\s*([kKmM]?)(?:i?[bB])?\s*")
_UNITS = {"": 1, "k": KIB, "m": MIB}


def parse_size(text: str) -> int:
    """A size in bytes from ``4096``, ``64k`` or ``4M`` (k = 1024, M = 1024²); at least 2."""
    match = _SIZE.fullmatch(str(text))
    if match is None:
        raise ValueError(f"not a size in bytes (e.g. 4096, 64k, 4M): {text!r}")
    size = int(match.group(1)) * _UNITS[match.group(2).lower()]
    if size < 2:
        raise ValueError(f"a capacity holds at least 2 bytes, got {text!r}")
    return size


def parse_items(items: Iterable[str]) -> dict[str, int]:
    """``{path pattern: bytes}`` from ``PATH=SIZE`` items."""
    result: dict[str, int] = {}
    for item in items:
        path, sep, size = item.partition("=")
        if not (sep and path.strip()):
            raise ValueError(f"expected PATH=SIZE, got {item!r}")
        result[path.strip()] = parse_size(size)
    return result


@dataclass(frozen=True)
class Capacities:
    """The capacity policy: built-in defaults, overridden per path.

    ``overrides`` maps a Variable path or a shell-style pattern to a size in bytes; an exact path
    wins over patterns, and the first matching pattern wins over later ones.
    """

    overrides: Mapping[str, int] | None = None

    def bytes_for(self, path: str, default: int) -> int:
        """The buffer size of the Variable at ``path`` whose built-in default is ``default``."""
        overrides = self.overrides or {}
        if path in overrides:
            return overrides[path]
        for pattern, size in overrides.items():
            if fnmatch.fnmatchcase(path, pattern):
                return size
        return default

    def text(self, path: str) -> int:
        """Buffer size (NUL included) of a text record of a Variable that can grow."""
        return self.bytes_for(path, _root_text_default(path))

    def growing_array(self, path: str) -> int:
        """Buffer size of an array record whose Variable's length can change."""
        return self.bytes_for(path, GROWING_ARRAY)


def _root_text_default(path: str) -> int:
    """The built-in default for text at ``path``: the Root's log variables are larger."""
    owner, _, name = path.rpartition(".")
    if owner and "." not in owner:
        if name == "SystemLog":
            return SYSTEM_LOG
        if name == "SystemLogLast":
            return SYSTEM_LOG_LAST
    return TEXT
