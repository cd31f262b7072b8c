"""Put checks: pure functions that accept a value from an EPICS client or say why not.

Every check returns the value to hand to the tree, or raises :class:`PutRejected` with a reason a
person can act on. Nothing here clamps, wraps or truncates: a value that does not fit is refused.
"""

from __future__ import annotations

import ast
import math
import re
import sys
from collections.abc import Mapping

import numpy as np


class PutRejected(ValueError):
    """A client put that must not reach the tree; the message says why."""


#: Text EPICS reads as a number (its epicsParse* functions, base 10), in ASCII only: a CA
#: DBR_STRING array is converted element by element, so an element accepted here must convert.
_SPACE = r"[ \t\n\r\f\v]*"
_WHOLE = re.compile(f"{_SPACE}([+-]?[0-9]+){_SPACE}")
_REAL = re.compile(
    _SPACE
    + r"([+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf(?:inity)?|nan))"
    + _SPACE,
    re.IGNORECASE,
)


def parse_number(text: str, whole: bool = False) -> int | float | str:
    """A number written as decimal text ("5", " -3 ", "2.5", "1e3", "inf"), else the text itself.

    With ``whole``, only integers count as numbers ("2.5" is returned as text). A real number
    that a double cannot hold (1e400, 1e-400: EPICS reports an overflow or underflow) is no number.
    """
    match = _WHOLE.fullmatch(text)
    if match:
        return int(match.group(1))
    match = None if whole else _REAL.fullmatch(text)
    if not match:
        return text
    number = float(match.group(1))
    written = match.group(1).lstrip("+-").lower()
    if math.isinf(number) and not written.startswith("inf"):
        return text
    if number == 0 and any(digit in "123456789" for digit in written.split("e")[0]):
        return text
    if number != 0 and abs(number) < sys.float_info.min:
        return text
    return number


def parse_elements(texts: list[str], dtype: np.dtype) -> list[int | float]:
    """Each text of a DBR_STRING array as a number of ``dtype``, as EPICS would convert it.

    Integers only for an integer ``dtype``; a float32 element must fit a float32.
    """
    whole = dtype.kind in "iu"
    numbers = [parse_number(text, whole) for text in texts]
    tiny, huge = (
        (float(np.finfo(dtype).tiny), float(np.finfo(dtype).max)) if dtype.kind == "f" else (0, 0)
    )
    for position, number in enumerate(numbers):
        if isinstance(number, str):
            kind = "a whole number" if whole else "a number"
            raise PutRejected(f"element {position} ({number!r}) is not {kind}")
        if huge and math.isfinite(number) and not (number == 0 or tiny <= abs(number) <= huge):
            raise PutRejected(f"element {position} ({number!r}) does not fit a {dtype}")
    return numbers  # type: ignore[return-value]


def state_index(text: str, labels: tuple[str, ...]) -> int:
    """The state a text names, as EPICS reads it into a bo/mbbo: a label, or its index."""
    if text in labels:
        return labels.index(text)
    number = parse_number(text, whole=True)
    if isinstance(number, int) and 0 <= number < len(labels):
        return number
    raise PutRejected(f"{text!r} is not one of the labels ({', '.join(labels)}) or an index")


def char_bytes(values: list, text: bool) -> bytes:
    """The bytes of a char-array put: DBR_CHAR values, or numbers (as text when ``text``).

    Each element must be a byte value: 0..255 (DBR_CHAR, which CA sends unsigned) or -128..-1
    (the numbers of a signed char, as a client of the record's own CHAR type holds them); nothing
    else is wrapped into a byte.
    """
    if text:
        values = parse_elements(values, np.dtype(np.uint8))
    data = bytearray()
    for position, value in enumerate(values):
        if not (math.isfinite(value) and value == int(value) and -128 <= value <= 255):
            raise PutRejected(f"element {position} ({value!r}) is not a byte value 0..255")
        data.append(int(value) & 0xFF)
    return bytes(data)


def decode_text(data: bytes, exact: bool) -> str:
    """The text held in a char buffer: UTF-8 up to its terminating NUL.

    NULs after the text are padding, unless ``exact`` (a PVA put ends with exactly one NUL);
    anything else after a NUL means the text contained NUL, and is refused, as are bytes that are
    not UTF-8.
    """
    end = data.find(b"\0")
    if end >= 0:
        rest = data[end + 1 :]
        if (exact and rest) or rest.strip(b"\0"):
            raise PutRejected(f"text contains a NUL character (at byte {end})")
        data = data[:end]
    try:
        return data.decode()
    except UnicodeDecodeError as error:
        raise PutRejected(
            f"bytes {data[error.start : error.end]!r} at byte {error.start} are not UTF-8 text"
        ) from None


def check_integer(value: object, low: int, high: int) -> int:
    """Return ``value`` as an int if it is integral and inside ``[low, high]``."""
    if isinstance(value, bool | np.bool_):
        return check_integer(int(value), low, high)
    if isinstance(value, float | np.floating):
        if not math.isfinite(value) or value != int(value):
            raise PutRejected(f"{value!r} is not an integer")
        value = int(value)
    if not isinstance(value, int | np.integer):
        raise PutRejected(f"{value!r} is not an integer")
    value = int(value)
    if not low <= value <= high:
        raise PutRejected(f"{value} is outside the range {low}..{high}")
    return value


def check_float(value: object, low: float | None, high: float | None) -> float:
    """Return ``value`` as a float inside ``[low, high]``.

    NaN and infinities are refused when the variable declares a limit on either side, since no
    limited quantity can hold them; an unlimited float takes them as they are.
    """
    if isinstance(value, str | bytes) or not isinstance(value, int | float | np.number):
        raise PutRejected(f"{value!r} is not a number")
    value = float(value)
    limited = low is not None or high is not None
    if not math.isfinite(value):
        if limited:
            raise PutRejected(f"{value} is not allowed: the variable has limits")
        return value
    if low is not None and value < low:
        raise PutRejected(f"{value} is below the minimum {low}")
    if high is not None and value > high:
        raise PutRejected(f"{value} is above the maximum {high}")
    return value


def check_bool(value: object) -> bool:
    """Return ``value`` as a bool; only 0 and 1 (or False/True) are accepted."""
    if isinstance(value, str | bytes):
        raise PutRejected(f"{value!r} is not 0 or 1")
    if value in (0, 1):
        return bool(value)
    raise PutRejected(f"{value!r} is not 0 or 1")


def check_string(text: object, max_chars: int | None, capacity: int) -> str:
    """Return ``text`` if it fits the variable and did not fill the record's buffer.

    ``capacity`` is the record's buffer size in bytes, the terminating NUL included. Clients and
    servers cut an overlong string to the buffer silently, so a string that fills the whole buffer
    may have been cut on its way here and is refused. ``max_chars`` is the variable's own limit
    (a pyrogue ``String(N)`` keeps at most N-1 characters and cuts the rest silently).
    """
    if not isinstance(text, str):
        raise PutRejected(f"{text!r} is not a string")
    size = len(text.encode())
    if size + 1 >= capacity:
        raise PutRejected(
            f"string of {size} bytes fills the {capacity}-byte record buffer and may have been cut"
        )
    if max_chars is not None and len(text) > max_chars:
        raise PutRejected(f"string of {len(text)} characters is longer than {max_chars}")
    return text


def check_index(index: object, keys: tuple) -> object:
    """Return the enum key for state ``index`` of an mbb record whose states are ``keys``."""
    position = check_integer(index, 0, len(keys) - 1) if keys else None
    if position is None:
        raise PutRejected("the enum has no states")
    return keys[position]


def check_label(label: object, reverse: Mapping[str, object]) -> str:
    """Return ``label`` if it names one of the enum's states (``reverse`` maps label → key)."""
    if not isinstance(label, str) or label not in reverse:
        choices = ", ".join(reverse)
        raise PutRejected(f"{label!r} is not one of the enum labels ({choices})")
    return label


def check_array(values: object, length: int, dtype: np.dtype) -> np.ndarray:
    """Return ``values`` as a 1-D array of ``dtype`` if it has exactly ``length`` elements.

    Numbers must fit ``dtype`` exactly: an integer array takes whole numbers within its range
    (CA carries unsigned and 64-bit integers as doubles, so whole doubles are accepted).
    """
    array = np.asarray(values)
    if array.ndim != 1 or array.shape[0] != length:
        got = array.shape[0] if array.ndim == 1 else array.shape
        raise PutRejected(f"array of {got} elements, expected exactly {length}")
    return _elements(array, dtype)


def _elements(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``array`` as ``dtype`` if every element is a number that ``dtype`` holds exactly."""
    if array.dtype.kind not in "biuf":
        raise PutRejected(f"array of {array.dtype} is not numeric")
    if dtype.kind in "iu" and array.size:
        if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.trunc(array))):
            raise PutRejected(f"array holds values that are not whole numbers: {array.tolist()}")
        info = np.iinfo(dtype)
        low, high = array.min(), array.max()
        if array.dtype.kind == "f":
            # float(2**64 - 1) is 2**64: compare with the exact powers of two around the range.
            outside = low < float(info.min) or high >= float(info.max) + 1
        else:
            outside = int(low) < info.min or int(high) > info.max
        if outside:
            raise PutRejected(f"array values outside {dtype} range {info.min}..{info.max}")
    if dtype.kind == "f" and array.size:
        finite = np.abs(array[np.isfinite(array)])
        if finite.size and finite.max() > np.finfo(dtype).max:
            raise PutRejected(f"array values beyond the {dtype} range: {array.tolist()}")
    return array.astype(dtype, copy=True)


def check_integer_text(text: object, low: int, high: int) -> int:
    """Return the integer written in ``text`` ("0x1F", "31", "0b11111") if inside ``[low, high]``.

    For integers wider than any EPICS number, which are served as their display text.
    """
    if not isinstance(text, str):
        raise PutRejected(f"{text!r} is not a string")
    try:
        value = int(text.strip(), 0)
    except ValueError:
        raise PutRejected(f"{text!r} is not an integer (decimal, 0x, 0o or 0b)") from None
    if not low <= value <= high:
        raise PutRejected(f"{text.strip()} is outside the range {low:#x}..{high:#x}")
    return value


def check_literal(text: object, kind: type, capacity: int) -> object:
    """Return the Python literal written in ``text`` if it is a ``kind`` (a list, a dict, …).

    Parsed with ``ast.literal_eval``, as pyrogue parses such display text, but without calling
    into the tree, so a bad put leaves no trace in the tree's log.
    """
    text = check_string(text, None, capacity)
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as error:
        raise PutRejected(f"{text!r} is not a Python literal: {error}") from None
    if type(value) is not kind:
        raise PutRejected(f"{text!r} is a {type(value).__name__}, expected a {kind.__name__}")
    return value
