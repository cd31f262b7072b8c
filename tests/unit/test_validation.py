"""Unit tests for ioc.validation: every put check, accepted and rejected values."""

import math
import re

import numpy as np
import pytest

from ioc.validation import (
    PutRejected,
    char_bytes,
    check_array,
    check_bool,
    check_float,
    check_index,
    check_integer,
    check_label,
    check_string,
    decode_text,
    parse_elements,
    parse_number,
    state_index,
)

INF = math.inf
NAN = math.nan


def signed(bits: int) -> tuple[int, int]:
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def unsigned(bits: int) -> tuple[int, int]:
    return 0, 2**bits - 1


#: (low, high) of every integer width a record can carry, plus a typical narrow field.
WIDTHS = {
    "UInt1": unsigned(1),
    "UInt8": unsigned(8),
    "UInt12": unsigned(12),
    "UInt16": unsigned(16),
    "UInt31": unsigned(31),
    "UInt32": unsigned(32),
    "UInt63": unsigned(63),
    "Int1": signed(1),
    "Int8": signed(8),
    "Int16": signed(16),
    "Int32": signed(32),
    "Int64": signed(64),
}


# --- check_integer -------------------------------------------------------------------------------


@pytest.mark.parametrize(("low", "high"), WIDTHS.values(), ids=WIDTHS.keys())
def test_integer_accepts_both_ends_of_each_width(low: int, high: int) -> None:
    assert check_integer(low, low, high) == low
    assert check_integer(high, low, high) == high


@pytest.mark.parametrize(("low", "high"), WIDTHS.values(), ids=WIDTHS.keys())
@pytest.mark.parametrize("side", ["below", "above"])
def test_integer_rejects_one_past_each_end(low: int, high: int, side: str) -> None:
    value = low - 1 if side == "below" else high + 1
    with pytest.raises(PutRejected) as rejected:
        check_integer(value, low, high)
    message = str(rejected.value)
    assert str(value) in message
    assert f"{low}..{high}" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (7, 7),
        (np.int16(-3), -3),
        (np.uint64(2**63 - 1), 2**63 - 1),
        (np.int64(-(2**63)), -(2**63)),
        (5.0, 5),
        (np.float32(-2.0), -2),
        (1e18, 10**18),
        (True, 1),
        (False, 0),
        (np.bool_(True), 1),
    ],
    ids=repr,
)
def test_integer_accepts_integral_values(value: object, expected: int) -> None:
    result = check_integer(value, -(2**63), 2**63 - 1)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize(
    "value",
    [0.5, -1.25, 1e-9, np.float64(2.5), np.float32(0.1), NAN, INF, -INF, np.float64(NAN)],
    ids=repr,
)
def test_integer_rejects_non_integral_floats(value: object) -> None:
    with pytest.raises(PutRejected, match="is not an integer") as rejected:
        check_integer(value, -100, 100)
    assert repr(value) in str(rejected.value)


@pytest.mark.parametrize("value", ["5", b"5", None, [1], 1 + 0j, object()], ids=repr)
def test_integer_rejects_non_numbers(value: object) -> None:
    with pytest.raises(PutRejected, match="is not an integer"):
        check_integer(value, -100, 100)


def test_integral_float_still_range_checked() -> None:
    with pytest.raises(PutRejected, match=re.escape("256 is outside the range 0..255")):
        check_integer(256.0, 0, 255)


def test_bool_still_range_checked() -> None:
    with pytest.raises(PutRejected, match=re.escape("1 is outside the range 2..5")):
        check_integer(True, 2, 5)


# --- check_float ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "low", "high", "expected"),
    [
        (1.5, None, None, 1.5),
        (-1e308, None, None, -1e308),
        (3, None, None, 3.0),
        (np.float32(0.5), None, None, 0.5),
        (np.int64(-7), None, None, -7.0),
        (-10.0, -10.0, 100.0, -10.0),
        (100.0, -10.0, 100.0, 100.0),
        (0.0, 0, None, 0.0),
        (5.0, None, 5, 5.0),
        (True, None, None, 1.0),
    ],
    ids=repr,
)
def test_float_accepts(value: object, low: object, high: object, expected: float) -> None:
    result = check_float(value, low, high)
    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize(
    ("value", "low", "high", "fragment"),
    [
        (-10.001, -10.0, 100.0, "below the minimum -10.0"),
        (100.5, -10.0, 100.0, "above the maximum 100.0"),
        (-1, 0, None, "below the minimum 0"),
        (6, None, 5, "above the maximum 5"),
        (np.float64(1e39), -3.4e38, 3.4e38, "above the maximum 3.4e+38"),
    ],
    ids=repr,
)
def test_float_rejects_out_of_limits(
    value: object, low: object, high: object, fragment: str
) -> None:
    with pytest.raises(PutRejected) as rejected:
        check_float(value, low, high)
    message = str(rejected.value)
    assert fragment in message
    assert str(float(value)) in message


@pytest.mark.parametrize("value", [NAN, INF, -INF, np.float32(NAN), np.float64(-INF)], ids=repr)
@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (0.0, None), (None, 1.0)], ids=str)
def test_float_rejects_non_finite_when_limited(value: object, low: object, high: object) -> None:
    with pytest.raises(PutRejected, match="the variable has limits") as rejected:
        check_float(value, low, high)
    assert str(float(value)) in str(rejected.value)


@pytest.mark.parametrize("value", [INF, -INF, np.float32(INF)], ids=repr)
def test_float_without_limits_takes_infinities(value: object) -> None:
    assert check_float(value, None, None) == float(value)


def test_float_without_limits_takes_nan() -> None:
    assert math.isnan(check_float(NAN, None, None))


@pytest.mark.parametrize("value", ["1.5", b"1.5", None, [1.0], object()], ids=repr)
def test_float_rejects_non_numbers(value: object) -> None:
    with pytest.raises(PutRejected, match="is not a number") as rejected:
        check_float(value, None, None)
    assert repr(value) in str(rejected.value)


# --- check_bool ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, False),
        (1, True),
        (False, False),
        (True, True),
        (0.0, False),
        (1.0, True),
        (np.int32(1), True),
        (np.bool_(False), False),
    ],
    ids=repr,
)
def test_bool_accepts_zero_and_one(value: object, expected: bool) -> None:
    result = check_bool(value)
    assert result is expected


@pytest.mark.parametrize(
    "value", [2, -1, 0.5, NAN, INF, "1", "True", b"0", None, np.int64(255)], ids=repr
)
def test_bool_rejects_anything_else(value: object) -> None:
    with pytest.raises(PutRejected, match="is not 0 or 1") as rejected:
        check_bool(value)
    assert repr(value) in str(rejected.value)


# --- check_string --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "max_chars", "capacity"),
    [
        ("", None, 2),
        ("a", None, 3),
        ("a" * 4094, None, 4096),  # size + 1 = 4095 < 4096
        ("a" * 31, 31, 33),  # String(32): N-1 characters
        ("é" * 15, 31, 33),  # 30 bytes
        ("hello", 31, 33),
    ],
    ids=lambda x: repr(x)[:20],
)
def test_string_accepts_what_fits(text: str, max_chars: int | None, capacity: int) -> None:
    assert check_string(text, max_chars, capacity) == text


@pytest.mark.parametrize(
    ("text", "capacity"),
    [
        ("a", 2),  # size + 1 == capacity: the buffer is full
        ("a" * 4095, 4096),
        ("a" * 4096, 4096),
        ("a" * 32, 33),
        ("é" * 16, 33),  # 16 characters but 32 bytes
    ],
    ids=lambda x: repr(x)[:20],
)
def test_string_rejects_a_full_buffer(text: str, capacity: int) -> None:
    with pytest.raises(PutRejected, match="may have been cut") as rejected:
        check_string(text, None, capacity)
    message = str(rejected.value)
    assert f"{len(text.encode())} bytes" in message
    assert f"{capacity}-byte" in message


@pytest.mark.parametrize(("size", "max_chars"), [(6, 5), (32, 31), (100, 31)])
def test_string_rejects_more_than_max_chars(size: int, max_chars: int) -> None:
    with pytest.raises(PutRejected, match="longer than") as rejected:
        check_string("x" * size, max_chars, 4096)
    assert f"{size} characters is longer than {max_chars}" in str(rejected.value)


@pytest.mark.parametrize("text", [None, b"abc", 5, 1.5, ["a"]], ids=repr)
def test_string_rejects_non_strings(text: object) -> None:
    with pytest.raises(PutRejected, match="is not a string") as rejected:
        check_string(text, None, 4096)
    assert repr(text) in str(rejected.value)


# --- check_index ---------------------------------------------------------------------------------

SPARSE_KEYS = (5, 10, 20, -3)


@pytest.mark.parametrize(
    ("index", "expected"),
    [(0, 5), (1, 10), (2, 20), (3, -3), (np.uint16(2), 20), (1.0, 10)],
    ids=repr,
)
def test_index_returns_the_key(index: object, expected: int) -> None:
    assert check_index(index, SPARSE_KEYS) == expected


@pytest.mark.parametrize(
    ("index", "fragment"),
    [
        (4, "4 is outside the range 0..3"),
        (-1, "-1 is outside the range 0..3"),
        (16, "16 is outside the range 0..3"),
        (1.5, "1.5 is not an integer"),
        ("Low", "'Low' is not an integer"),
    ],
    ids=repr,
)
def test_index_rejects_unknown_states(index: object, fragment: str) -> None:
    with pytest.raises(PutRejected) as rejected:
        check_index(index, SPARSE_KEYS)
    assert fragment in str(rejected.value)


def test_index_into_an_empty_enum() -> None:
    with pytest.raises(PutRejected, match="no states"):
        check_index(0, ())


# --- check_label ---------------------------------------------------------------------------------

REVERSE = {"Off": 0, "Low": 5, "High": 10}


@pytest.mark.parametrize("label", list(REVERSE))
def test_label_accepts_known_labels(label: str) -> None:
    assert check_label(label, REVERSE) == label


@pytest.mark.parametrize("label", ["off", "Medium", "", "Off ", 0, 5, None, b"Off"], ids=repr)
def test_label_rejects_unknown_labels(label: object) -> None:
    with pytest.raises(PutRejected) as rejected:
        check_label(label, REVERSE)
    message = str(rejected.value)
    assert repr(label) in message
    assert "Off, Low, High" in message


# --- check_array ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "length", "dtype"),
    [
        ([1.5, 2.5, 3.5], 3, "float64"),
        (np.arange(8, dtype="float32"), 8, "float64"),
        (np.arange(4, dtype="int64"), 4, "float64"),
        ([0, 4294967295, 7, 8], 4, "uint32"),
        (np.array([-32768, 0, 32767]), 3, "int16"),
        (np.array([0, 255], dtype="uint64"), 2, "uint8"),
        ([-128, 127], 2, "int8"),
        ([-(2**31), 2**31 - 1], 2, "int32"),
        ([0.25], 1, "float32"),
        (np.zeros(0, dtype="int64"), 0, "int32"),
    ],
    ids=lambda x: repr(x)[:30],
)
def test_array_accepts_exact_length(values: object, length: int, dtype: str) -> None:
    result = check_array(values, length, np.dtype(dtype))
    assert result.dtype == np.dtype(dtype)
    assert result.shape == (length,)
    np.testing.assert_array_equal(result, np.asarray(values))


def test_array_is_a_copy() -> None:
    values = np.zeros(4)
    result = check_array(values, 4, np.dtype("float64"))
    values[0] = 1.0
    assert result[0] == 0.0


@pytest.mark.parametrize(
    ("values", "length", "fragment"),
    [
        (np.zeros(9), 8, "array of 9 elements, expected exactly 8"),  # NELM = length + 1
        (np.zeros(7), 8, "array of 7 elements, expected exactly 8"),
        (np.zeros(0), 8, "array of 0 elements, expected exactly 8"),
        (np.zeros((2, 4)), 8, "array of (2, 4) elements, expected exactly 8"),
        (np.zeros((8, 1)), 8, "array of (8, 1) elements, expected exactly 8"),
        (5.0, 1, "array of () elements, expected exactly 1"),
    ],
    ids=lambda x: repr(x)[:30],
)
def test_array_rejects_wrong_shape(values: object, length: int, fragment: str) -> None:
    with pytest.raises(PutRejected) as rejected:
        check_array(values, length, np.dtype("float64"))
    assert fragment in str(rejected.value)


INT_DTYPES = ["int8", "uint8", "int16", "uint16", "int32", "uint32"]


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ([0.5, 1.0], "not whole numbers"),
        ([1.0, float("nan")], "not whole numbers"),
        ([float("inf"), 1.0], "not whole numbers"),
        ([1 + 0j, 2], "not numeric"),
        (["1", "2"], "not numeric"),
    ],
    ids=repr,
)
def test_array_rejects_values_an_integer_array_cannot_hold(
    values: object, fragment: str, dtype: str
) -> None:
    with pytest.raises(PutRejected, match=fragment):
        check_array(values, 2, np.dtype(dtype))


@pytest.mark.parametrize("dtype", INT_DTYPES)
@pytest.mark.parametrize("values", [[1.0, 2.0], np.array([1, 2], dtype="float32")], ids=repr)
def test_array_takes_whole_floats_into_integers(values: object, dtype: str) -> None:
    """CA carries unsigned and 64-bit integer arrays as doubles: whole ones are fine."""
    result = check_array(values, 2, np.dtype(dtype))
    assert result.dtype == np.dtype(dtype)
    assert result.tolist() == [1, 2]


@pytest.mark.parametrize(
    ("dtype", "bad"),
    [
        ("int8", -129),
        ("int8", 128),
        ("uint8", -1),
        ("uint8", 256),
        ("int16", -32769),
        ("int16", 32768),
        ("uint16", -1),
        ("uint16", 65536),
        ("int32", -(2**31) - 1),
        ("int32", 2**31),
        ("uint32", -1),
        ("uint32", 2**32),
    ],
)
def test_array_rejects_integers_outside_the_dtype(dtype: str, bad: int) -> None:
    info = np.iinfo(dtype)
    with pytest.raises(PutRejected) as rejected:
        check_array(np.array([0, bad], dtype="int64"), 2, np.dtype(dtype))
    assert f"outside {dtype} range {info.min}..{info.max}" in str(rejected.value)


def test_array_rejects_big_unsigned_into_signed() -> None:
    with pytest.raises(PutRejected, match="outside int32 range"):
        check_array(np.array([2**63], dtype="uint64"), 1, np.dtype("int32"))


# --- what a CA client sent as text, read as EPICS reads it ---------------------------------------


@pytest.mark.parametrize(
    ("text", "whole", "expected"),
    [
        ("5", True, 5),
        (" -3 ", True, -3),
        ("+7", True, 7),
        ("2.5", False, 2.5),
        ("1e3", False, 1000.0),
        (".5", False, 0.5),
        ("inf", False, math.inf),
        ("-Infinity", False, -math.inf),
    ],
)
def test_parse_number_reads_decimal_text(text: str, whole: bool, expected: object) -> None:
    assert parse_number(text, whole) == expected


@pytest.mark.parametrize(
    ("text", "whole"),
    [
        ("2.5", True),  # an integer record's text must be an integer
        ("1e3", True),
        ("0x10", False),  # EPICS reads base 10 only
        ("1_0", False),  # Python's digit separator is no number to EPICS
        ("١٢", False),  # non-ASCII digits
        ("1e400", False),  # overflow: EPICS refuses it
        ("1e-400", False),  # underflow: EPICS refuses it
        ("", False),
        ("abc", False),
        ("9abc", False),
    ],
)
def test_parse_number_leaves_what_epics_cannot_read_as_text(text: str, whole: bool) -> None:
    assert parse_number(text, whole) == text


def test_parse_nan_is_a_number() -> None:
    assert math.isnan(parse_number("nan"))


def test_parse_elements_names_the_first_bad_element() -> None:
    with pytest.raises(PutRejected, match=re.escape("element 1 ('bad') is not a whole number")):
        parse_elements(["7", "bad", "x"], np.dtype("int32"))
    with pytest.raises(PutRejected, match=r"element 1 .* does not fit a float32"):
        parse_elements(["1", "1e39"], np.dtype("float32"))
    with pytest.raises(PutRejected, match="does not fit a float32"):
        parse_elements(["1e-46"], np.dtype("float32"))
    assert parse_elements(["1", "-2.5", "nan", "inf"], np.dtype("float32"))[:2] == [1, -2.5]


@pytest.mark.parametrize(
    ("values", "text", "expected"),
    [
        ([104, 105, 0], False, b"hi\0"),
        ([-61, -87], False, "é".encode()),  # numbers of a signed char
        ([195, 169], False, "é".encode()),  # DBR_CHAR as CA sends it (unsigned)
        (["72", "73"], True, b"HI"),
    ],
)
def test_char_bytes(values: list, text: bool, expected: bytes) -> None:
    assert char_bytes(values, text) == expected


@pytest.mark.parametrize(
    ("values", "text"),
    [([256], False), ([1.5], False), ([math.nan], False), (["x"], True), (["300"], True)],
)
def test_char_bytes_refuses_what_is_no_byte(values: list, text: bool) -> None:
    with pytest.raises(PutRejected):
        char_bytes(values, text)


@pytest.mark.parametrize(
    ("data", "exact", "expected"),
    [
        (b"abc", False, "abc"),
        (b"abc\0", True, "abc"),
        (b"abc\0\0\0", False, "abc"),  # padding after the text
        ("é ✓".encode() + b"\0", True, "é ✓"),
        (b"", True, ""),
    ],
)
def test_decode_text(data: bytes, exact: bool, expected: str) -> None:
    assert decode_text(data, exact) == expected


@pytest.mark.parametrize(
    ("data", "exact", "fragment"),
    [
        (b"a\0b\0", False, "contains a NUL character (at byte 1)"),
        (b"ab\0\0", True, "contains a NUL character (at byte 2)"),  # PVA: one NUL ends the text
        (b"\xff\xfe\0", False, "are not UTF-8 text"),
        (b"caf\xe9", False, "b'\\xe9' at byte 3 are not UTF-8 text"),
    ],
)
def test_decode_text_refuses_nul_and_bad_utf8(data: bytes, exact: bool, fragment: str) -> None:
    with pytest.raises(PutRejected, match=re.escape(fragment)):
        decode_text(data, exact)


def test_state_index() -> None:
    labels = ("Zero", "One", "Five")
    assert state_index("One", labels) == 1
    assert state_index("2", labels) == 2
    for text in ("3", "one", "-1", "1.0", ""):
        with pytest.raises(PutRejected, match="is not one of the labels"):
            state_index(text, labels)


def test_array_refuses_values_beyond_float32() -> None:
    with pytest.raises(PutRejected, match="beyond the float32 range"):
        check_array([1.0, 1e39], 2, np.dtype("float32"))
    assert np.isinf(check_array([math.inf, 1.0], 2, np.dtype("float32"))[0])


@pytest.mark.parametrize(
    ("dtype", "bad"),
    [("uint64", 2.0**64), ("int64", 2.0**63), ("int64", -(2.0**63) - 2048), ("uint32", 2.0**32)],
)
def test_array_of_doubles_just_past_a_64_bit_range_is_refused(dtype: str, bad: float) -> None:
    # float(2**64 - 1) == 2**64: a bound compared as a double would let 2**64 in and wrap it to 0.
    with pytest.raises(PutRejected, match="outside"):
        check_array(np.array([0.0, bad]), 2, np.dtype(dtype))


def test_array_of_doubles_up_to_the_64_bit_bounds_is_exact() -> None:
    top = 2.0**64 - 2048  # the largest double below 2**64
    assert check_array(np.array([top]), 1, np.dtype("uint64")).tolist() == [2**64 - 2048]
    low = -(2.0**63)
    assert check_array(np.array([low]), 1, np.dtype("int64")).tolist() == [-(2**63)]
