"""A memory-emulated register space for simulated devices.

`MemoryEmulator` is a byte-addressed, little-endian register space that RemoteVariables read and
write through `Field` descriptions (offset, bit size, bit offset, value count, stride, endianness).
For tests it can slow down or break address ranges: `setLatency` adds a delay to every access that
touches a range, `injectFault` makes reads and/or writes of a range raise `MemoryFault` until
`heal`. `addDynamic` backs a register with a function that is consulted on every read, so moving
values (counters, sensors) move only when somebody reads them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

__all__ = ["Field", "GeneralError", "MemoryEmulator", "MemoryFault"]


class GeneralError(Exception):
    """rogue's `GeneralError`: raised by its memory layer for a refused value or failed access."""


class MemoryFault(GeneralError):
    """An access touched an address range with an injected read or write fault."""

    def __init__(self, address: int, access: str) -> None:
        super().__init__(f"simulated {access} fault at address {address:#x}")
        self.address = address
        self.access = access


@dataclass(frozen=True)
class Field:
    """Where a register field lives: `numValues` values of `bitSize` bits each.

    The first value starts `bitOffset` bits into the byte at `offset`; value *i* starts
    `i * stride` bits after it (default: `bitSize` rounded up to whole bytes). Little-endian
    fields may have any bit size and bit offset, also narrower than a byte or crossing bytes;
    big-endian fields must be whole, byte-aligned bytes.
    """

    offset: int
    bitSize: int
    bitOffset: int = 0
    numValues: int = 1
    stride: int | None = None
    bigEndian: bool = False

    def __post_init__(self) -> None:
        if self.offset < 0 or self.bitSize < 1 or self.bitOffset < 0 or self.numValues < 1:
            raise ValueError(f"invalid field {self}")
        if self.strideBits < self.bitSize:
            raise ValueError(f"field {self}: stride smaller than bitSize")
        aligned = self.bitOffset % 8 == 0 and self.bitSize % 8 == 0 and self.strideBits % 8 == 0
        if self.bigEndian and not aligned:
            raise ValueError(f"field {self}: big-endian fields must be whole bytes")

    @cached_property
    def strideBits(self) -> int:
        """Distance in bits between the starts of consecutive values."""
        return self.stride if self.stride is not None else -(-self.bitSize // 8) * 8

    @cached_property
    def span(self) -> tuple[int, int]:
        """The byte range [start, end) the field touches."""
        first = self.offset + self.bitOffset // 8
        endBit = self.offset * 8 + self.bitOffset + (self.numValues - 1) * self.strideBits
        return first, -(-(endBit + self.bitSize) // 8)


class MemoryEmulator:
    """A thread-safe, byte-addressed, little-endian register space of `size` bytes (zeroed).

    `minAccess` is the smallest access in bytes, as rogue's memory emulator has one: variable
    offsets are reported aligned to it and `varBytes` in whole accesses (data is not affected).
    """

    def __init__(self, size: int, minAccess: int = 4) -> None:
        if minAccess < 1:
            raise ValueError(f"minAccess {minAccess} is not positive")
        self.minAccess = minAccess
        self._data = bytearray(size)
        self._lock = threading.Lock()
        # Range settings keyed by (start, size); replaced, never mutated, so readers need no lock.
        self._latency: dict[tuple[int, int], float] = {}
        self._faults: dict[tuple[int, int], tuple[bool, bool]] = {}
        self._dynamic: dict[tuple[int, int], Callable[[], bytes]] = {}

    @property
    def size(self) -> int:
        """Size of the register space in bytes."""
        return len(self._data)

    # --- field access ----------------------------------------------------------------------------

    def read(self, field: Field) -> list[int]:
        """The raw unsigned values of `field` (a list of `field.numValues` ints)."""
        start, end = self._enter(field, "read")
        mask = (1 << field.bitSize) - 1
        with self._lock:
            for (dynStart, dynSize), source in self._dynamic.items():
                if dynStart < end and start < dynStart + dynSize:
                    data = source()
                    if len(data) != dynSize:
                        raise ValueError(f"dynamic register {dynStart:#x} gave {len(data)} bytes")
                    self._data[dynStart : dynStart + dynSize] = data
            if field.bigEndian:
                return [
                    int.from_bytes(self._data[a : a + field.bitSize // 8], "big")
                    for a in self._bigEndianStarts(field)
                ]
            whole = int.from_bytes(self._data[start:end], "little")
        first = field.offset * 8 + field.bitOffset - start * 8
        return [(whole >> (first + i * field.strideBits)) & mask for i in range(field.numValues)]

    def write(self, field: Field, values: Sequence[int]) -> None:
        """Write the raw unsigned `values` (one per field value) into `field`."""
        if len(values) != field.numValues:
            raise ValueError(f"{len(values)} values for a field of {field.numValues}")
        mask = (1 << field.bitSize) - 1
        if any(not 0 <= v <= mask for v in values):
            raise ValueError(f"raw value does not fit {field.bitSize} bits at {field.offset:#x}")
        start, end = self._enter(field, "write")
        with self._lock:
            if field.bigEndian:
                nbytes = field.bitSize // 8
                for address, value in zip(self._bigEndianStarts(field), values, strict=True):
                    self._data[address : address + nbytes] = value.to_bytes(nbytes, "big")
                return
            whole = int.from_bytes(self._data[start:end], "little")
            first = field.offset * 8 + field.bitOffset - start * 8
            for i, value in enumerate(values):
                shift = first + i * field.strideBits
                whole = (whole & ~(mask << shift)) | (value << shift)
            self._data[start:end] = whole.to_bytes(end - start, "little")

    @staticmethod
    def _bigEndianStarts(field: Field) -> range:
        first = field.offset + field.bitOffset // 8
        step = field.strideBits // 8
        return range(first, first + step * field.numValues, step)

    def _enter(self, field: Field, access: str) -> tuple[int, int]:
        """Bounds check, latency and faults of an access to `field`; returns its byte span."""
        start, end = field.span
        if end > len(self._data):
            raise IndexError(
                f"access to {start:#x}..{end - 1:#x} beyond memory size {self.size:#x}"
            )
        delay = max(
            (s for (a, n), s in self._latency.items() if a < end and start < a + n), default=0.0
        )
        if delay:
            time.sleep(delay)
        failing = 0 if access == "read" else 1
        for (a, n), flags in self._faults.items():
            if flags[failing] and a < end and start < a + n:
                raise MemoryFault(max(a, start), access)
        return start, end

    # --- raw access (no latency, faults or bounds on fields) -------------------------------------

    def peek(self, offset: int, size: int) -> bytes:
        """`size` raw bytes at `offset`, bypassing latency, faults and dynamic registers."""
        with self._lock:
            return bytes(self._data[offset : offset + size])

    def poke(self, offset: int, data: bytes) -> None:
        """Store raw bytes at `offset`, bypassing latency and faults (a hardware-side change)."""
        if offset < 0 or offset + len(data) > len(self._data):
            raise IndexError(f"poke of {len(data)} bytes at {offset:#x} beyond memory")
        with self._lock:
            self._data[offset : offset + len(data)] = data

    # --- range behaviour -------------------------------------------------------------------------

    def setLatency(self, start: int, size: int, seconds: float) -> None:
        """Delay every access touching [start, start+size) by `seconds` (0 removes the delay)."""
        if seconds < 0:
            raise ValueError(f"negative latency {seconds}")
        latency = {k: v for k, v in self._latency.items() if k != (start, size)}
        if seconds:
            latency[(start, size)] = seconds
        self._latency = latency

    def injectFault(self, start: int, size: int, *, read: bool = True, write: bool = True) -> None:
        """Make reads and/or writes touching [start, start+size) raise `MemoryFault`.

        Replaces the earlier setting of the same range; `read=False, write=False` heals it.
        """
        faults = {k: v for k, v in self._faults.items() if k != (start, size)}
        if read or write:
            faults[(start, size)] = (read, write)
        self._faults = faults

    def heal(self, start: int, size: int) -> None:
        """Remove the fault injected for [start, start+size)."""
        self.injectFault(start, size, read=False, write=False)

    def addDynamic(self, offset: int, size: int, source: Callable[[], bytes]) -> None:
        """Back [offset, offset+size) by `source`: every read touching it first stores `source()`.

        `source` runs under the memory lock and must return exactly `size` bytes without
        accessing this memory.
        """
        if offset < 0 or offset + size > len(self._data):
            raise IndexError(f"dynamic register {offset:#x}+{size} beyond memory")
        self._dynamic = {**self._dynamic, (offset, size): source}
