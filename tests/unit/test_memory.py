"""Unit tests for sim.memory: field layout, faults, latency, dynamic registers, thread safety."""

import threading
import time

import pytest

from sim.memory import Field, MemoryEmulator, MemoryFault


@pytest.fixture
def mem() -> MemoryEmulator:
    return MemoryEmulator(64)


def test_fields_are_little_endian(mem):
    mem.write(Field(4, 32), [0x01020304])
    assert mem.peek(4, 4) == bytes([4, 3, 2, 1])
    assert mem.read(Field(4, 16)) == [0x0304]
    assert mem.read(Field(6, 8)) == [0x02]


@pytest.mark.parametrize(
    ("bitOffset", "bitSize", "value", "raw"),
    [
        (0, 1, 1, b"\x01\x00\x00"),
        (1, 3, 0b101, b"\x0a\x00\x00"),
        (4, 2, 0b11, b"\x30\x00\x00"),
        (6, 12, 0xFFF, b"\xc0\xff\x03"),  # crosses two byte boundaries
        (13, 8, 0xA5, b"\x00\xa0\x14"),
    ],
)
def test_bit_fields_land_on_their_bits(mem, bitOffset, bitSize, value, raw):
    field = Field(0, bitSize, bitOffset)
    mem.write(field, [value])
    assert mem.peek(0, 3) == raw
    assert mem.read(field) == [value]


def test_bit_fields_sharing_bytes_keep_each_other(mem):
    fields = {Field(0, 1, 0): 1, Field(0, 3, 1): 5, Field(0, 2, 4): 2, Field(0, 12, 6): 0xABC}
    for field, value in fields.items():
        mem.write(field, [value])
    assert {f: mem.read(f)[0] for f in fields} == fields
    mem.write(Field(0, 3, 1), [0])
    assert mem.read(Field(0, 12, 6)) == [0xABC]
    assert mem.read(Field(0, 1, 0)) == [1]


def test_arrays_use_byte_rounded_stride_by_default(mem):
    mem.write(Field(8, 32, numValues=3), [1, 2, 3])
    assert mem.peek(8, 12) == bytes([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0])
    mem.write(Field(32, 12, numValues=2), [0xABC, 0x123])
    assert mem.peek(32, 4) == bytes([0xBC, 0x0A, 0x23, 0x01])


def test_arrays_with_explicit_stride_in_bits(mem):
    field = Field(0, 4, numValues=4, stride=4)
    mem.write(field, [1, 2, 3, 4])
    assert mem.peek(0, 2) == bytes([0x21, 0x43])
    assert mem.read(field) == [1, 2, 3, 4]


def test_big_endian_fields(mem):
    mem.write(Field(0, 32, bigEndian=True), [0x01020304])
    assert mem.peek(0, 4) == bytes([1, 2, 3, 4])
    mem.write(Field(8, 16, numValues=2, bigEndian=True), [0x0102, 0x0304])
    assert mem.peek(8, 4) == bytes([1, 2, 3, 4])
    assert mem.read(Field(8, 16, numValues=2, bigEndian=True)) == [0x0102, 0x0304]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"offset": 0, "bitSize": 12, "bigEndian": True},
        {"offset": 0, "bitSize": 8, "bitOffset": 4, "bigEndian": True},
        {"offset": 0, "bitSize": 16, "numValues": 2, "stride": 8},
        {"offset": -1, "bitSize": 8},
        {"offset": 0, "bitSize": 0},
    ],
)
def test_invalid_fields_are_refused(kwargs):
    with pytest.raises(ValueError):
        Field(**kwargs)


def test_accesses_beyond_the_memory_are_refused(mem):
    with pytest.raises(IndexError, match="0x3e"):
        mem.read(Field(62, 32))
    with pytest.raises(IndexError):
        mem.write(Field(60, 32, numValues=2), [0, 0])
    with pytest.raises(IndexError):
        mem.poke(63, b"ab")


def test_raw_values_must_fit_the_field(mem):
    with pytest.raises(ValueError, match="8 bits"):
        mem.write(Field(0, 8), [256])
    with pytest.raises(ValueError):
        mem.write(Field(0, 8, numValues=2), [1])
    assert mem.peek(0, 2) == b"\0\0"


def test_read_fault_names_the_address_and_heals(mem):
    mem.write(Field(16, 32), [7])
    mem.injectFault(16, 16, read=True, write=False)
    with pytest.raises(MemoryFault, match="0x14") as fault:
        mem.read(Field(20, 32))
    assert (fault.value.address, fault.value.access) == (0x14, "read")
    mem.write(Field(16, 32), [8])  # writes still work
    assert mem.read(Field(0, 32)) == [0]  # other ranges are unaffected
    mem.heal(16, 16)
    assert mem.read(Field(16, 32)) == [8]


def test_write_fault_changes_nothing(mem):
    mem.injectFault(16, 16, read=False, write=True)
    with pytest.raises(MemoryFault, match="write fault at address 0x18"):
        mem.write(Field(24, 32), [5])
    assert mem.read(Field(24, 32)) == [0]
    mem.injectFault(16, 16, read=False, write=False)
    mem.write(Field(24, 32), [5])
    assert mem.read(Field(24, 32)) == [5]


def test_a_field_overlapping_a_faulty_range_fails_at_its_first_faulty_byte(mem):
    mem.injectFault(10, 2)
    with pytest.raises(MemoryFault) as fault:
        mem.read(Field(8, 32))
    assert fault.value.address == 10
    assert mem.read(Field(12, 8)) == [0]


def test_latency_delays_accesses_of_its_range(mem):
    mem.setLatency(32, 32, 0.2)
    start = time.monotonic()
    mem.write(Field(40, 32), [1])
    assert mem.read(Field(40, 32)) == [1]
    assert time.monotonic() - start >= 0.4
    with pytest.raises(ValueError):
        mem.setLatency(0, 4, -1)


def test_dynamic_registers_move_on_reads_only(mem):
    counter = iter(range(100))
    mem.addDynamic(8, 4, lambda: next(counter).to_bytes(4, "little"))
    assert mem.peek(8, 4) == b"\0\0\0\0"
    assert mem.read(Field(8, 32)) == [0]
    assert mem.read(Field(8, 32)) == [1]
    assert mem.read(Field(0, 8)) == [0]  # reads elsewhere leave it alone
    assert mem.read(Field(8, 32)) == [2]


def test_dynamic_register_must_return_its_size(mem):
    mem.addDynamic(8, 4, lambda: b"\x01")
    with pytest.raises(ValueError, match="1 bytes"):
        mem.read(Field(8, 8))
    assert len(mem.peek(0, 64)) == 64


def test_concurrent_writes_to_fields_sharing_a_byte_lose_nothing(mem):
    low, high = Field(0, 4, 0), Field(0, 4, 4)

    def hammer(field: Field) -> None:
        for i in range(3000):
            mem.write(field, [i % 16])
        mem.write(field, [9 if field is low else 6])

    threads = [threading.Thread(target=hammer, args=(f,)) for f in (low, high)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mem.peek(0, 1) == bytes([0x69])
