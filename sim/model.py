"""Register models: how a RemoteVariable's value is stored in register bits.

These are pyrogue's `base=` models (`UInt`, `Int`, `Bool`, `Float`, `Double`, `Float16`,
`String`, `Fixed`, `UFixed`, `UIntReversed` and the big-endian `UIntBE`, `IntBE`, `FloatBE`,
`DoubleBE`, `Float16BE`); `sim.tree` re-exports them. As in pyrogue a model is an instance made
from its bit size (`UInt(32)`, `Fixed(16, 8)`), instances are shared (`UInt(32) is UInt(32)`),
and a RemoteVariable takes either the class (`base=pr.UInt`, sized from the variable) or an
instance (`base=pr.UInt(32)`). Besides pyrogue's attributes (name, pytype, defaultdisp,
ndType, minValue()/maxValue(), endianness, bitReverse, binPoint, fromString) each model checks
a Python value the way rogue's C++ block does and converts it to an unsigned raw integer for
`sim.memory` and back.
"""

from __future__ import annotations

import numbers
import struct
from typing import Any

import numpy as np

from sim.memory import GeneralError

__all__ = [
    "Bool",
    "Double",
    "DoubleBE",
    "Fixed",
    "Float",
    "Float16",
    "Float16BE",
    "FloatBE",
    "Int",
    "IntBE",
    "Model",
    "String",
    "UFixed",
    "UInt",
    "UIntBE",
    "UIntReversed",
    "reverseBits",
    "twosComplement",
]


def reverseBits(value: int, bitSize: int) -> int:
    """`value` with its `bitSize` low bits in reverse order (pyrogue's helper)."""
    return int(format(value & ((1 << bitSize) - 1), f"0{bitSize}b")[::-1], 2)


def twosComplement(value: int, bitSize: int) -> int:
    """The signed value of the `bitSize`-bit two's-complement pattern `value`."""
    return value - (1 << bitSize) if value & (1 << (bitSize - 1)) else value


class _SharedInstances(type):
    """Metaclass: one shared instance per class and constructor arguments, as in pyrogue."""

    def __init__(cls, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cls._instances: dict[tuple, Model] = {}

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted(kwargs.items())))
        instance = cls._instances.get(key)
        if instance is None:
            instance = cls._instances[key] = super().__call__(*args, **kwargs)
        return instance


class Model(metaclass=_SharedInstances):
    """How a value is represented in register bits (pyrogue's Model).

    Subclasses give `pytype`, `defaultdisp`, the range, `ndType` (the numpy dtype of arrays,
    None when the model cannot form arrays) and the conversions `check`, `toRaw`, `fromRaw`.
    """

    pytype: type | None = None
    defaultdisp: Any = "{}"
    signed = False
    endianness = "little"
    bitReverse = False
    encoding: str | None = None

    def __init__(self, bitSize: int, binPoint: int = 0) -> None:
        self.bitSize = bitSize
        self.binPoint = binPoint
        self.name = type(self).__name__
        self.ndType: np.dtype | None = None

    @property
    def isBigEndian(self) -> bool:
        """True for big-endian models."""
        return self.endianness == "big"

    def minValue(self) -> Any:
        """The smallest value (None: unbounded)."""
        return None

    def maxValue(self) -> Any:
        """The largest value (None: unbounded)."""
        return None

    def fromString(self, string: str) -> Any:
        """The value a string stands for."""
        raise NotImplementedError

    def check(self, value: Any) -> Any:
        """`value` as this model's Python type; GeneralError when rogue could not take it."""
        raise NotImplementedError

    def toRaw(self, value: Any) -> int:
        """The raw unsigned bits of a checked value."""
        raise NotImplementedError

    def fromRaw(self, raw: int) -> Any:
        """The value stored in the raw bits."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"


def _refuse(value: Any, what: str) -> GeneralError:
    return GeneralError(f"Failed to extract value {value!r} as {what}")


class UInt(Model):
    """Unsigned integer of any bit size (typeStr `UInt<bitSize>`, arrays uint32/uint64)."""

    pytype = int
    defaultdisp = "{:#x}"

    def __init__(self, bitSize: int) -> None:
        super().__init__(bitSize)
        self.name = f"{type(self).__name__}{bitSize}"
        self.ndType = np.dtype(np.uint32) if bitSize <= 32 else np.dtype(np.uint64)

    def fromString(self, string: str) -> int:
        """Any Python integer literal ('0x10', '17')."""
        return int(string, 0)

    def minValue(self) -> int:
        """0."""
        return 0

    def maxValue(self) -> int:
        """2**bitSize - 1."""
        return (1 << self.bitSize) - 1

    def check(self, value: Any) -> int:
        """Integers (also bool and numpy integers) only.

        As in rogue, a negative value for an unsigned register is an OverflowError (its
        conversion to an unsigned integer fails).
        """
        if isinstance(value, numbers.Integral):
            if value < 0 and not self.signed:
                raise OverflowError("can't convert negative value to unsigned int")
            return int(value)
        raise _refuse(value, "an integer")

    def toRaw(self, value: int) -> int:
        """Two's complement bits, so that negative values of signed models fit."""
        return value & ((1 << self.bitSize) - 1)

    def fromRaw(self, raw: int) -> int:
        """The unsigned value."""
        return raw


class UIntReversed(UInt):
    """Unsigned integer stored with its bits in reverse order (cannot form arrays)."""

    bitReverse = True

    def __init__(self, bitSize: int) -> None:
        super().__init__(bitSize)
        self.ndType = None

    def toRaw(self, value: int) -> int:
        """The bits of `value` reversed."""
        return reverseBits(value, self.bitSize)

    def fromRaw(self, raw: int) -> int:
        """The value of the reversed bits."""
        return reverseBits(raw, self.bitSize)


class Int(UInt):
    """Two's-complement signed integer (typeStr `Int<bitSize>`, arrays int32/int64)."""

    defaultdisp = "{:d}"
    signed = True

    def __init__(self, bitSize: int) -> None:
        super().__init__(bitSize)
        self.ndType = np.dtype(np.int32) if bitSize <= 32 else np.dtype(np.int64)

    def fromString(self, string: str) -> int:
        """An integer literal; a literal beyond the sign bit is read as two's complement."""
        value = int(string, 0)
        return value - (1 << self.bitSize) if value >= 1 << (self.bitSize - 1) else value

    def minValue(self) -> int:
        """-2**(bitSize-1)."""
        return -(1 << (self.bitSize - 1))

    def maxValue(self) -> int:
        """2**(bitSize-1) - 1."""
        return (1 << (self.bitSize - 1)) - 1

    def fromRaw(self, raw: int) -> int:
        """The signed value."""
        return twosComplement(raw, self.bitSize)


class UIntBE(UInt):
    """Big-endian unsigned integer, whole bytes."""

    endianness = "big"


class IntBE(Int):
    """Big-endian signed integer, whole bytes."""

    endianness = "big"


class Bool(Model):
    """A single bit (typeStr `Bool`); its default disp is the False/True enum."""

    pytype = bool
    defaultdisp = {False: "False", True: "True"}

    def __init__(self, bitSize: int) -> None:
        if bitSize != 1:
            raise AssertionError(f"The bitSize param of Model Bool must be 1, not {bitSize}")
        super().__init__(bitSize)
        self.ndType = np.dtype(bool)

    def fromString(self, string: str) -> bool:
        """True for 'true' in any case, else False."""
        return string.lower() == "true"

    def minValue(self) -> int:
        """0."""
        return 0

    def maxValue(self) -> int:
        """1."""
        return 1

    def check(self, value: Any) -> bool:
        """bool, numpy bool or an integer (non-zero is True)."""
        if isinstance(value, bool | np.bool_ | numbers.Integral):
            return bool(value)
        raise _refuse(value, "a bool")

    def toRaw(self, value: bool) -> int:
        """1 or 0."""
        return int(value)

    def fromRaw(self, raw: int) -> bool:
        """The bit as a bool."""
        return bool(raw)


class String(Model):
    """A NUL-padded UTF-8 string of bitSize/8 bytes (typeStr `String(<bytes>)`)."""

    pytype = str
    encoding = "utf-8"

    def __init__(self, bitSize: int) -> None:
        super().__init__(bitSize)
        self.name = f"String({bitSize // 8})"

    def fromString(self, string: str) -> str:
        """The string itself."""
        return string

    def check(self, value: Any) -> str:
        """str only."""
        if isinstance(value, str):
            return value
        raise _refuse(value, "a str")

    def toRaw(self, value: str) -> int:
        """The UTF-8 bytes cut to leave room for a NUL (rogue cuts longer strings silently)."""
        return int.from_bytes(value.encode()[: self.bitSize // 8 - 1], "little")

    def fromRaw(self, raw: int) -> str:
        """The string up to the first NUL."""
        data = raw.to_bytes(self.bitSize // 8, "little").split(b"\0", 1)[0]
        return data.decode(errors="replace")


class Float(Model):
    """IEEE-754 single precision (typeStr `Float32`, range ±3.4e38)."""

    pytype = float
    defaultdisp = "{:f}"
    _width, _code, _limit, _dtype = 32, "f", 3.4e38, np.float32

    def __init__(self, bitSize: int) -> None:
        if bitSize != self._width:
            raise AssertionError(
                f"The bitSize param of Model {type(self).__name__} must be {self._width}"
            )
        super().__init__(bitSize)
        self.name = f"{type(self).__name__}{bitSize}"
        self.ndType = np.dtype(self._dtype)

    def fromString(self, string: str) -> float:
        """float(string)."""
        return float(string)

    def minValue(self) -> float:
        """pyrogue's lower limit."""
        return -self._limit

    def maxValue(self) -> float:
        """pyrogue's upper limit."""
        return self._limit

    def check(self, value: Any) -> float:
        """Real numbers only."""
        if isinstance(value, numbers.Real):
            return float(value)
        raise _refuse(value, "a float")

    def toRaw(self, value: float) -> int:
        """The IEEE-754 bits."""
        return int.from_bytes(struct.pack(f"<{self._code}", value), "little")

    def fromRaw(self, raw: int) -> float:
        """The float of the bits."""
        return struct.unpack(f"<{self._code}", raw.to_bytes(self._width // 8, "little"))[0]


class Double(Float):
    """IEEE-754 double precision (typeStr `Double64`, range ±1.8e308)."""

    _width, _code, _limit, _dtype = 64, "d", 1.80e308, np.float64


class Float16(Float):
    """IEEE-754 half precision (typeStr `Float16`, range ±65504)."""

    _width, _code, _limit, _dtype = 16, "e", 65504.0, np.float16

    def __init__(self, bitSize: int) -> None:
        super().__init__(bitSize)
        self.name = "Float16"


class FloatBE(Float):
    """Big-endian single precision."""

    endianness = "big"


class DoubleBE(Double):
    """Big-endian double precision."""

    endianness = "big"


class Float16BE(Float16):
    """Big-endian half precision."""

    endianness = "big"


class UFixed(Model):
    """Unsigned fixed point: bitSize bits, binPoint of them fractional (typeStr `UFixed_B_P`)."""

    pytype = float
    defaultdisp = "{}"

    def __init__(self, bitSize: int, binPoint: int) -> None:
        super().__init__(bitSize, binPoint)
        self.name = f"{type(self).__name__}_{bitSize}_{binPoint}"
        self.ndType = np.dtype(np.float64)

    def fromString(self, string: str) -> float:
        """float(string)."""
        return float(string)

    def minValue(self) -> float:
        """0."""
        return 0.0

    def maxValue(self) -> float:
        """The largest representable value."""
        return ((1 << self.bitSize) - 1) / (1 << self.binPoint)

    def check(self, value: Any) -> float:
        """Real numbers only."""
        if isinstance(value, numbers.Real):
            return float(value)
        raise _refuse(value, "a float")

    def toRaw(self, value: float) -> int:
        """The value scaled by 2**binPoint, rounded, as two's complement bits."""
        return round(value * (1 << self.binPoint)) & ((1 << self.bitSize) - 1)

    def fromRaw(self, raw: int) -> float:
        """The bits scaled back."""
        return raw / (1 << self.binPoint)


class Fixed(UFixed):
    """Signed fixed point (typeStr `Fixed_B_P`)."""

    signed = True

    def minValue(self) -> float:
        """The most negative representable value."""
        return -(1 << (self.bitSize - 1)) / (1 << self.binPoint)

    def maxValue(self) -> float:
        """The largest representable value."""
        return ((1 << (self.bitSize - 1)) - 1) / (1 << self.binPoint)

    def fromRaw(self, raw: int) -> float:
        """The signed bits scaled back."""
        return twosComplement(raw, self.bitSize) / (1 << self.binPoint)
