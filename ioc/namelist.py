"""The list of PV names an IOC serves, packed for PVs that any CA or PVA client can read.

The names, sorted and joined with newlines, are compressed with zlib (RFC 1950) and cut into
chunks of at most :data:`CHUNK_BYTES` bytes, one UCHAR waveform each: small enough for a CA
client's default ``EPICS_CA_MAX_ARRAY_BYTES`` (16384), and 100,000 names of ~50 characters fit
in a few dozen chunks. Pure functions, used by the IOC (packing) and ``rogue-ioc list``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

CHUNK_BYTES = 16000
"""Largest chunk (bytes): below CA's default array limit of 16384 bytes with its header."""


class NameListError(ValueError):
    """Chunks that do not decode to a complete name list."""


def pack(names: Iterable[str]) -> list[bytes]:
    """The chunks holding ``names`` (sorted, without duplicates); at least one chunk."""
    data = zlib.compress("\n".join(sorted(set(names))).encode(), 9)
    return [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]


def unpack(chunks: Iterable[bytes], expected: int) -> list[str]:
    """The names in ``chunks``; ``expected`` is how many the IOC says it serves."""
    decompressor = zlib.decompressobj()
    try:
        text = decompressor.decompress(b"".join(chunks)) + decompressor.flush()
    except zlib.error as exc:
        raise NameListError(f"the name list does not decompress: {exc}") from exc
    if not decompressor.eof:
        raise NameListError("the name list is incomplete (a chunk is missing or cut)")
    names = text.decode().split("\n") if text else []
    if len(names) != expected:
        raise NameListError(f"the name list holds {len(names)} names, the IOC counts {expected}")
    return names
