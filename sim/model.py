"""Register models: how a RemoteVariable's value is stored in register bits.

These are the `base=` models of pyrogue (`UInt`, `Int`, `Bool`, `Float`, `Double`, `String` and
the big-endian `UIntBE`, `IntBE`, `FloatBE`, `DoubleBE`); `sim.tree` re-exports them. Each one
checks a Python value's type, converts it to an unsigned raw integer for `sim.memory` and back,
and knows its value range, its numpy dtype for arrays, its typeStr (`name`) and default disp.
"""

from __future__ import annotations

import numbers
import operator
import struct
from typing import Any

import numpy as np

__all__ = [
    "Bool",
    "Double",
    "DoubleBE",
    "Float",
    "FloatBE",
    "Int",
    "IntBE",
    "Model",
    "String",
    "UInt",
    "UIntBE",
]


def _intDtype(kind: str, bitSize: int) -> np.dtype | None:
    """The smallest numpy integer dtype of `kind` ('uint'/'int') holding `bitSize` bits."""
    width = next((w for w in (8, 16, 32, 64) if bitSize <= w), None)
    return np.dtype(f"{kind}{width}") if width else None


class Model:
    """How a RemoteVariable's value is stored in register bits (pyrogue's `base=` models).

    A model converts a Python value to an unsigned raw integer of `bitSize` bits and back, knows
    the value range (`minValue`/`maxValue`, None when unbounded), the Python type (`pytype`),
    the numpy dtype used for arrays (`ndType`) and the default display format.
    """

    pytype: type = int
    defaultDisp = "{}"
    bigEndian = False

    def __init__(self, bitSize: int) -> None:
        self.bitSize = bitSize
        self.name = f"{type(self).__name__}{bitSize}"
        self.minValue: float | None = None
        self.maxValue: float | None = None
        self.ndType: np.dtype | None = None

    def coerce(self, value: Any) -> Any:
        """`value` as this model's Python type; TypeError when it is not of a fitting type."""
        raise NotImplementedError

    def toRaw(self, value: Any) -> int:
        """The raw bits of a coerced, in-range `value`."""
        raise NotImplementedError

    def fromRaw(self, raw: int) -> Any:
        """The value stored in the raw bits `raw`."""
        raise NotImplementedError


class UInt(Model):
    """Unsigned integer of any bit size (typeStr `UInt<bitSize>`)."""

    defaultDisp = "{:#x}"

    def __init__(self, bitSize: int) -> None:
        super().__init__(bitSize)
        self.minValue, self.maxValue = 0, (1 << bitSize) - 1
        self.ndType = _intDtype("uint", bitSize)

    def coerce(self, value: Any) -> int:
        """`value` as an int; floats, strings and bytes raise TypeError."""
        return operator.index(value)

    def toRaw(self, value: int) -> int:
        """The raw bits of `value`."""
        return value

    def fromRaw(self, raw: int) -> int:
        """The value of the raw bits."""
        return raw


class Int(UInt):
    """Two's-complement signed integer of any bit size (typeStr `Int<bitSize>`)."""

    defaultDisp = "{:d}"

    def __init__(self, bitSize: int) -> None:
        super().__init__(bitSize)
        self.minValue, self.maxValue = -(1 << (bitSize - 1)), (1 << (bitSize - 1)) - 1
        self.ndType = _intDtype("int", bitSize)

    def toRaw(self, value: int) -> int:
        """The two's-complement bits of `value`."""
        return value & ((1 << self.bitSize) - 1)

    def fromRaw(self, raw: int) -> int:
        """The signed value of the raw bits."""
        return raw - (1 << self.bitSize) if raw >> (self.bitSize - 1) else raw


class Bool(Model):
    """A single bit (typeStr `Bool`); values False/True, also given as 0/1."""

    pytype = bool

    def __init__(self, bitSize: int) -> None:
        if bitSize != 1:
            raise ValueError(f"Bool needs bitSize 1, not {bitSize}")
        super().__init__(bitSize)
        self.name = "Bool"
        self.ndType = np.dtype(bool)

    def coerce(self, value: Any) -> bool:
        """`value` as a bool; only bools and the integers 0 and 1 are accepted."""
        if isinstance(value, bool | np.bool_):
            return bool(value)
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            if value in (0, 1):
                return bool(value)
            raise ValueError(f"{value} is not a Bool (0 or 1)")
        raise TypeError(f"{type(value).__name__} is not a Bool")

    def toRaw(self, value: bool) -> int:
        """1 for True, 0 for False."""
        return int(value)

    def fromRaw(self, raw: int) -> bool:
        """The bit as a bool."""
        return bool(raw)


class Float(Model):
    """IEEE-754 single precision (typeStr `Float32`)."""

    pytype = float
    defaultDisp = "{:f}"
    _width, _floatCode, _intCode, _dtype = 32, "<f", "<I", np.float32

    def __init__(self, bitSize: int) -> None:
        if bitSize != self._width:
            raise ValueError(f"{type(self).__name__} needs bitSize {self._width}, not {bitSize}")
        super().__init__(bitSize)
        self.maxValue = float(np.finfo(self._dtype).max)
        self.minValue = -self.maxValue
        self.ndType = np.dtype(self._dtype)

    def coerce(self, value: Any) -> float:
        """`value` as a float; strings and bytes raise TypeError."""
        if not isinstance(value, numbers.Real):
            raise TypeError(f"{type(value).__name__} is not a number")
        return float(value)

    def toRaw(self, value: float) -> int:
        """The IEEE-754 bits of `value`."""
        return struct.unpack(self._intCode, struct.pack(self._floatCode, value))[0]

    def fromRaw(self, raw: int) -> float:
        """The float stored in the bits."""
        return struct.unpack(self._floatCode, struct.pack(self._intCode, raw))[0]


class Double(Float):
    """IEEE-754 double precision (typeStr `Double64`)."""

    _width, _floatCode, _intCode, _dtype = 64, "<d", "<Q", np.float64


class String(Model):
    """A NUL-terminated string of bitSize/8 bytes (typeStr `String(<bytes>)`).

    As in pyrogue, at most bytes-1 characters are stored; longer strings are cut silently.
    """

    pytype = str

    def __init__(self, bitSize: int) -> None:
        if bitSize % 8 or bitSize < 16:
            raise ValueError(
                f"String needs a whole number of bytes (at least 2), not {bitSize} bits"
            )
        super().__init__(bitSize)
        self.name = f"String({bitSize // 8})"

    def coerce(self, value: Any) -> str:
        """`value` if it is a str; anything else raises TypeError."""
        if not isinstance(value, str):
            raise TypeError(f"{type(value).__name__} is not a str")
        return value

    def toRaw(self, value: str) -> int:
        """The UTF-8 bytes of `value`, cut to leave room for the terminating NUL."""
        return int.from_bytes(value.encode()[: self.bitSize // 8 - 1], "little")

    def fromRaw(self, raw: int) -> str:
        """The string up to the first NUL."""
        data = raw.to_bytes(self.bitSize // 8, "little").split(b"\0", 1)[0]
        return data.decode(errors="replace")


class UIntBE(UInt):
    """Big-endian unsigned integer, whole bytes (typeStr `UIntBE<bitSize>`)."""

    bigEndian = True


class IntBE(Int):
    """Big-endian signed integer, whole bytes (typeStr `IntBE<bitSize>`)."""

    bigEndian = True


class FloatBE(Float):
    """Big-endian single precision (typeStr `FloatBE32`)."""

    bigEndian = True


class DoubleBE(Double):
    """Big-endian double precision (typeStr `DoubleBE64`)."""

    bigEndian = True
