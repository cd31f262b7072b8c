"""Put checks: pure functions that accept a value from an EPICS client or say why not.

Every check returns the value to hand to the tree, or raises :class:`PutRejected` with a reason a
person can act on. Nothing here clamps, wraps or truncates: a value that does not fit is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


class PutRejected(ValueError):
    """A client put that must not reach the tree; the message says why."""


def parse_number(text: str) -> int | float | str:
    """A number written as text ("5", "0x10", "2.5"), or the text itself if it is none."""
    text = text.strip()
    for parse in (lambda t: int(t, 0), float):
        try:
            return parse(text)
        except ValueError:
            pass
    return text


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
    if array.dtype.kind not in "biuf":
        raise PutRejected(f"array of {array.dtype} is not numeric")
    if dtype.kind in "iu" and array.size:
        if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.trunc(array))):
            raise PutRejected(f"array holds values that are not whole numbers: {array.tolist()}")
        info = np.iinfo(dtype)
        low, high = array.min(), array.max()
        if low < info.min or high > info.max:
            raise PutRejected(f"array values outside {dtype} range {info.min}..{info.max}")
    return array.astype(dtype, copy=True)
