"""Unit tests of sim.tree's pyrogue API on simulated memory (docs/simulator.md).

They use the simulated memory directly (peek/poke, faults); tests/unit/test_pyrogue_api.py
holds the differential suite that also runs on real pyrogue.
"""

import threading

import numpy as np
import pytest


@pytest.fixture
def make(tree, memory):
    """`make(*nodes, pollEn=False, start=True)`: a Root 'root' with the nodes in Device 'Dev'
    (memBase `memory`); started roots are stopped at the end of the test."""
    roots = []

    def build(*nodes, pollEn=False, start=True):
        root = tree.Root(name="root", pollEn=pollEn)
        dev = tree.Device(name="Dev", memBase=memory)
        dev.add(list(nodes))
        root.add(dev)
        roots.append(root)
        if start:
            root.start()
        return root

    yield build
    for root in roots:
        root.stop()


def local(tree, **kwargs):
    return tree.LocalVariable(name=kwargs.pop("name", "Var"), **kwargs)


def own(root):
    """The tree's Variables and Commands without pyrogue's standard ones (enable, Time, ...)."""
    standard = {"enable", "ReadDevice", "WriteDevice"}
    processes = ("LoadConfigProcess", "SaveConfigProcess")
    return [
        v
        for v in root.variableList
        if v.parent is not root and v.name not in standard and v.path.split(".")[1] not in processes
    ]


def remote(tree, **kwargs):
    return tree.RemoteVariable(
        name=kwargs.pop("name", "Var"), offset=kwargs.pop("offset", 0), **kwargs
    )


# --- types and metadata -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "typeStr", "nativeType", "disp"),
    [
        ({"value": 0}, "int", int, "{}"),
        ({"value": 0.0}, "float", float, "{}"),
        ({"value": ""}, "str", str, "{}"),
        ({"value": False}, "bool", bool, "enum"),
        ({"value": [1, 2]}, "list", list, "{}"),
        ({"value": {"a": 1}}, "dict", dict, "{}"),
        ({"value": np.zeros(8)}, "float64(8,)", np.ndarray, "{}"),
        ({"value": np.zeros(3, dtype=np.int16)}, "int16(3,)", np.ndarray, "{}"),
        ({"value": 0, "typeStr": "UInt16"}, "UInt16", int, "{}"),
        ({"value": 0, "enum": {0: "A", 3: "B"}}, "int", int, "enum"),
        ({"value": 1.0, "disp": "{:.3f}"}, "float", float, "{:.3f}"),
    ],
)
def test_local_variable_types(tree, kwargs, typeStr, nativeType, disp):
    var = local(tree, **kwargs)
    assert (var.typeStr, var.nativeType, var.disp) == (typeStr, nativeType, disp)
    assert (var.minimum, var.maximum) == (None, None)


@pytest.mark.parametrize(
    ("model", "bitSize", "numValues", "typeStr", "nativeType", "disp", "minimum", "maximum"),
    [
        ("UInt", 12, 0, "UInt12", int, "{:#x}", 0, 4095),
        ("UInt", 32, 0, "UInt32", int, "{:#x}", 0, 2**32 - 1),
        ("UInt", 64, 0, "UInt64", int, "{:#x}", 0, 2**64 - 1),
        ("Int", 16, 0, "Int16", int, "{:d}", -32768, 32767),
        ("Bool", 1, 0, "Bool", bool, "enum", 0, 1),
        ("Float", 32, 0, "Float32", float, "{:f}", -3.4e38, 3.4e38),
        (
            "Double",
            64,
            0,
            "Double64",
            float,
            "{:f}",
            -float("inf"),  # pyrogue's limit 1.80e308 is beyond the largest double
            float("inf"),
        ),
        ("String", 8 * 32, 0, "String(32)", str, "{}", None, None),
        ("UIntBE", 32, 0, "UIntBE32", int, "{:#x}", 0, 2**32 - 1),
        ("IntBE", 16, 0, "IntBE16", int, "{:d}", -32768, 32767),
        (
            "FloatBE",
            32,
            0,
            "FloatBE32",
            float,
            "{:f}",
            -3.4e38,
            3.4e38,
        ),
        (
            "DoubleBE",
            64,
            0,
            "DoubleBE64",
            float,
            "{:f}",
            -float("inf"),  # pyrogue's limit 1.80e308 is beyond the largest double
            float("inf"),
        ),
        ("UInt", 32, 4, "uint32(4,)", np.ndarray, "{:#x}", 0, 2**32 - 1),
        ("UInt", 12, 2, "uint32(2,)", np.ndarray, "{:#x}", 0, 4095),
        ("Int", 16, 3, "int32(3,)", np.ndarray, "{:d}", -32768, 32767),
        (
            "Float",
            32,
            2,
            "float32(2,)",
            np.ndarray,
            "{:f}",
            -3.4e38,
            3.4e38,
        ),
    ],
)
def test_remote_variable_types(
    tree, model, bitSize, numValues, typeStr, nativeType, disp, minimum, maximum
):
    var = remote(
        tree,
        base=getattr(tree, model),
        bitSize=bitSize,
        numValues=numValues,
        valueBits=bitSize,
        valueStride=bitSize,
    )
    assert (var.typeStr, var.nativeType, var.disp) == (typeStr, nativeType, disp)
    assert (var.minimum, var.maximum) == (minimum, maximum)


def test_bool_values_get_a_false_true_enum(tree):
    for var in (local(tree, value=True), remote(tree, base=tree.Bool, bitSize=1)):
        assert var.enum == {False: "False", True: "True"}
        assert var.disp == "enum"


def test_explicit_limits_override_the_model_range(tree):
    var = remote(tree, bitSize=12, minimum=10, maximum=20)
    assert (var.minimum, var.maximum) == (10, 20)


def test_metadata_is_exposed(tree):
    var = local(
        tree,
        value=1.5,
        mode="RO",
        units="V",
        description="a voltage",
        lowAlarm=-2,
        lowWarning=-1,
        highWarning=1,
        highAlarm=2,
        minimum=-5,
        maximum=5,
        pollInterval=2,
    )
    assert (var.name, var.description, var.mode, var.units) == ("Var", "a voltage", "RO", "V")
    assert (var.lowAlarm, var.lowWarning, var.highWarning, var.highAlarm) == (-2, -1, 1, 2)
    assert (var.minimum, var.maximum, var.pollInterval, var.isCommand) == (-5, 5, 2, False)


@pytest.mark.parametrize(
    ("disp", "value", "precision"),
    [("{:.3f}", 1.0, 8), ("{:5.3f}", 1.0, 3), ("{}", 1.0, 8), ("{:d}", 1, 0)],
)
def test_precision_is_pyrogues(tree, disp, value, precision):
    assert local(tree, value=value, disp=disp).precision == precision


@pytest.mark.parametrize(
    ("value", "status", "severity"),
    [
        (-3.0, "AlarmLoLo", "AlarmMajor"),
        (-1.5, "AlarmLow", "AlarmMinor"),
        (-1.0, "Good", "Good"),
        (0.0, "Good", "Good"),
        (1.0, "Good", "Good"),
        (1.5, "AlarmHigh", "AlarmMinor"),
        (2.0, "AlarmHigh", "AlarmMinor"),
        (2.5, "AlarmHiHi", "AlarmMajor"),
    ],
)
def test_variable_value_alarm_state(tree, value, status, severity):
    var = local(tree, value=value, lowAlarm=-2.0, lowWarning=-1.0, highWarning=1.0, highAlarm=2.0)
    vv = var.getVariableValue(read=False)
    assert (vv.value, vv.status, vv.severity) == (value, status, severity)


def test_one_sided_limits(tree):
    var = local(tree, value=100, highWarning=10)
    assert var.getVariableValue(read=False).status == "AlarmHigh"
    var.set(5)
    assert var.getVariableValue(read=False).status == "Good"


@pytest.mark.parametrize("value", [7, 1e9, [1, 2], {"a": 1}, "text", np.ones(3)])
def test_variable_value_status_none_without_limits(tree, value):
    vv = local(tree, value=value).getVariableValue(read=False)
    assert (vv.status, vv.severity) == ("None", "None")


@pytest.mark.parametrize("value", [[1, 2], {"a": 1}, "text", np.ones(3)])
def test_variable_value_status_none_for_non_scalars_despite_limits(tree, value):
    vv = local(tree, value=value, lowAlarm=-5, highAlarm=5).getVariableValue(read=False)
    assert (vv.status, vv.severity) == ("None", "None")


@pytest.mark.parametrize(
    ("kwargs", "value", "text"),
    [
        ({"value": 0}, 12, "12"),
        ({"value": 0, "disp": "{:#x}"}, 255, "0xff"),
        ({"value": 0.0, "disp": "{:.2f}"}, 1.5, "1.50"),
        ({"value": 0, "enum": {1: "x1", 8: "x8"}}, 8, "x8"),
        ({"value": False}, True, "True"),
        ({"value": ""}, "hello", "hello"),
        ({"value": []}, [1, "a"], "[1, 'a']"),
        ({"value": {}}, {"a": [1]}, "{'a': [1]}"),
    ],
)
def test_display_round_trip(tree, kwargs, value, text):
    var = local(tree, **kwargs)
    assert var.genDisp(value) == text
    assert var.parseDisp(text) == value
    var.setDisp(text)
    assert var.get(read=False) == value


def test_array_display_round_trip(tree):
    var = local(tree, value=np.zeros(3))
    text = var.genDisp(np.array([1.0, 2.5, -3.0]))
    assert text == "[1.0, 2.5, -3.0]"
    parsed = var.parseDisp(text)
    assert parsed.dtype == np.float64
    assert parsed.tolist() == [1.0, 2.5, -3.0]


def test_parse_disp_details(tree):
    assert local(tree, value=0).parseDisp("0x10") == 16
    assert local(tree, value=0).parseDisp(5) == 5  # non-strings pass through
    assert local(tree, value=False).parseDisp("False") is False
    with pytest.raises(tree.VariableError):
        local(tree, value=0, enum={0: "A"}).parseDisp("B")
    with pytest.raises(tree.VariableError):
        local(tree, value=0).parseDisp("not a literal")


def test_unknown_enum_value_is_displayed_as_invalid(tree):
    assert local(tree, value=0, enum={0: "A"}).genDisp(3).startswith("INVALID")


# --- tree structure -----------------------------------------------------------------------------


def test_paths_children_and_variable_list_order(tree, make):
    inner = tree.Device(name="Inner")
    inner.add(local(tree, name="Deep", value=1))
    root = make(
        local(tree, name="A", value=1),
        inner,
        tree.LocalCommand(name="Go", function=lambda: None),
        remote(tree, name="R"),
    )
    assert [v.path for v in own(root)] == [
        "root.Dev.A",
        "root.Dev.Inner.Deep",
        "root.Dev.Go",
        "root.Dev.R",
    ]
    assert root.Dev.Inner.Deep is root.node("Dev").node("Inner").node("Deep")
    assert root.Dev.node("Missing") is None
    assert root.Dev.Inner.Deep.parent is root.Dev.Inner
    assert root.Dev.Inner.Deep.root is root
    with pytest.raises(AttributeError):
        _ = root.Dev.Missing


def test_paths_are_set_when_the_root_starts(tree, make):
    root = make(start=False)
    late = tree.Device(name="Late")
    root.Dev.add(late)
    late.add(local(tree, name="V", value=0))
    assert late.V.path == "V"
    root.start()
    assert late.V.path == "root.Dev.Late.V"


def test_root_time_variable(tree):
    with tree.Root(name="top", pollEn=False) as root:
        assert root.Time.path == "top.Time"
        assert (root.Time.mode, root.Time.typeStr, root.Time.hidden) == ("RO", "float", True)


def test_device_name_defaults_to_class_name(tree):
    class Board(tree.Device):
        pass

    assert Board().name == "Board"


def test_add_refuses_duplicates_and_reserved_names(tree, make):
    root = make(local(tree, name="A", value=0), start=False)
    with pytest.raises(tree.NodeError, match="A"):
        root.Dev.add(local(tree, name="A", value=0))
    with pytest.raises(tree.NodeError):
        root.Dev.add(local(tree, name="add", value=0))
    with pytest.raises(tree.NodeError):
        root.Dev.add(root.Dev.A)
    with pytest.raises(tree.NodeError):
        local(tree, name="a.b", value=0)


def test_add_after_start_is_refused(tree, make):
    root = make()
    with pytest.raises(tree.NodeError):
        root.Dev.add(local(tree, name="B", value=0))


def test_nested_device_offsets_add_up(tree, memory, make):
    outer = tree.Device(name="Outer", offset=0x100)
    inner = tree.Device(name="Inner", offset=0x20)
    inner.add(remote(tree, name="Reg", offset=0x4, value=0xABCD))
    outer.add(inner)
    root = make(outer)
    assert memory.peek(0x124, 4) == bytes(4)  # value= is a default, written by WriteAll
    root.WriteAll()
    assert memory.peek(0x124, 4) == bytes([0xCD, 0xAB, 0, 0])
    assert root.Dev.Outer.Inner.address == 0x120


def test_remote_variable_needs_a_mem_base(tree):
    root = tree.Root(name="root")
    dev = tree.Device(name="NoMem")
    dev.add(remote(tree))
    root.add(dev)
    with pytest.raises(tree.DeviceError, match="memBase"):
        root.start()


# --- groups -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inc", "exc", "expected"),
    [
        (None, None, True),
        ([], [], True),
        ("A", None, True),
        (["X", "B"], None, True),
        ("X", None, False),
        (None, "NoServe", True),
        (None, ["X", "A"], False),
        ("A", "B", False),
    ],
)
def test_filter_by_group(tree, inc, exc, expected):
    var = local(tree, value=0, groups=["A", "B"])
    assert var.filterByGroup(inc, exc) is expected


def test_in_group(tree):
    var = local(tree, value=0, groups=["A"])
    assert var.inGroup("A") and var.inGroup(["X", "A"])
    assert not var.inGroup("B") and not var.inGroup([])


def test_groups_are_inherited_at_start_and_add_to_group_propagates(tree, make):
    quiet = tree.Device(name="Quiet", groups=["Hidden"])
    quiet.add(local(tree, name="V", value=0))
    root = make(quiet, local(tree, name="Other", value=0))
    assert root.Dev.Quiet.V.inGroup("Hidden")
    root.Dev.Quiet.addToGroup("NoServe")
    assert root.Dev.Quiet.V.inGroup("NoServe")
    assert not root.Dev.Other.inGroup("NoServe")
    served = [v.path for v in own(root) if v.filterByGroup(None, ["NoServe"])]
    assert served == ["root.Dev.Other"]


# --- values: set, get, ranges, hooks ------------------------------------------------------------


def test_local_set_and_get(tree, make):
    root = make(local(tree, name="V", value=1, mode="RO"))
    root.Dev.V.set(5)  # RO only restricts clients, not the tree
    assert root.Dev.V.get() == 5
    assert root.Dev.V.value() == 5


def test_local_array_set_stores_the_given_array_and_index_sets_one_element(tree):
    var = local(tree, value=np.zeros(3, dtype=np.int32))
    source = np.array([1, 2, 3], dtype=np.int32)
    var.set(source)
    assert var.get(read=False) is source
    var.set(9, index=1)
    assert var.get(read=False).tolist() == [1, 9, 3]
    assert var.get(read=False, index=2) == 3
    with pytest.raises(tree.VariableError, match="Type mismatch"):
        var.set([1, 2, 3])


def test_local_range_check(tree):
    var = local(tree, name="Lim", value=0, minimum=-10, maximum=100)
    var.set(100)
    for bad in (101, -11):
        with pytest.raises(tree.VariableError, match=r"Value range error.*Lim"):
            var.set(bad)
    assert var.get(read=False) == 100
    local(tree, value=0).set(10**30)  # no limits: anything goes


def test_local_set_hook_receives_keyword_subset(tree, make):
    calls = []

    def full(dev, var, value, changed):
        calls.append((dev.name, var.name, value, changed))

    root = make(
        local(tree, name="Full", value=1, localSet=full),
        local(tree, name="ValueOnly", value=1, localSet=lambda value: calls.append(value)),
        local(tree, name="Nothing", value=1, localSet=lambda: calls.append("none")),
        local(tree, name="Kwargs", value=1, localSet=lambda **kw: calls.append(sorted(kw))),
    )
    calls.clear()  # start applied each value= default through localSet
    root.Dev.Full.set(2)
    root.Dev.Full.set(2)
    root.Dev.ValueOnly.set(3)
    root.Dev.Nothing.set(4)
    root.Dev.Kwargs.set(5)
    assert calls == [
        ("Dev", "Full", 2, True),
        ("Dev", "Full", 2, False),
        3,
        "none",
        [],  # as in pyrogue, **kwargs receives nothing
    ]


def test_local_set_hook_sees_the_new_value_and_its_failure_keeps_it(tree, make):
    seen = []

    def check(var, value):
        seen.append(var.value())
        if value < 0:
            raise RuntimeError("negative")

    root = make(local(tree, name="V", value=1, localSet=check))
    root.Dev.V.set(2)
    with pytest.raises(RuntimeError, match="negative"):
        root.Dev.V.set(-1)
    assert seen == [1, 2, -1]
    assert root.Dev.V.get(read=False) == -1  # pyrogue keeps the value a failing localSet saw


def test_local_get_hook_runs_on_every_get(tree, make):
    count = iter(range(1, 100))
    root = make(local(tree, name="V", value=0, localGet=lambda dev, var: next(count)))
    first = root.Dev.V.get(read=True)
    assert root.Dev.V.get(read=False) == first + 1  # as in pyrogue, also without read
    assert root.Dev.V.getVariableValue(read=True).value == first + 2


def test_remote_set_writes_memory_at_once(tree, memory, make):
    root = make(remote(tree, name="R", offset=8))
    root.Dev.R.set(0x11223344)
    assert memory.peek(8, 4) == bytes([0x44, 0x33, 0x22, 0x11])
    root.Dev.R.set(0x55, write=False)  # shadow only
    assert memory.peek(8, 4) == bytes([0x44, 0x33, 0x22, 0x11])
    assert root.Dev.R.get(read=False) == 0x55
    assert root.Dev.R.get(read=True) == 0x55  # as rogue: a value not yet written is not read over
    root.Dev.R.write()
    assert memory.peek(8, 4) == bytes([0x55, 0, 0, 0])


def test_remote_read_sees_memory_changes(tree, memory, make):
    root = make(remote(tree, name="R", offset=8, bitSize=16, base=tree.Int))
    memory.poke(8, (-2).to_bytes(2, "little", signed=True))
    assert root.Dev.R.get(read=False) == 0
    assert root.Dev.R.get(read=True) == -2


def test_remote_defaults_are_written_by_write_all_or_init_write(tree, memory, make):
    memory.poke(4, bytes([9, 0, 0, 0]))
    root = make(
        remote(tree, name="Init", offset=0, value=7),
        remote(tree, name="Read", offset=4),
    )
    assert memory.peek(0, 4) == bytes(4)
    assert (root.Dev.Init.get(read=False), root.Dev.Read.get(read=False)) == (7, 0)
    root.WriteAll()
    assert memory.peek(0, 1) == b"\x07"
    root.ReadAll()
    assert root.Dev.Read.get(read=False) == 9
    eager = tree.Root(name="eager", pollEn=False, initWrite=True)
    dev = tree.Device(name="Dev", memBase=memory)
    dev.add([remote(tree, name="Init", offset=8, value=5), remote(tree, name="Read", offset=4)])
    eager.add(dev)
    with eager:
        assert memory.peek(8, 1) == b"\x05"
        assert eager.Dev.Read.get(read=False) == 0
    reader = tree.Root(name="reader", pollEn=False, initRead=True)
    dev = tree.Device(name="Dev", memBase=memory)
    dev.add(remote(tree, name="Read", offset=4))
    reader.add(dev)
    with reader:
        assert reader.Dev.Read.get(read=False) == 9


def test_remote_bit_fields_through_the_tree(tree, memory, make):
    root = make(
        remote(tree, name="Enable", bitSize=1, base=tree.Bool),
        remote(tree, name="Channel", bitSize=3, bitOffset=1),
        remote(tree, name="Trim", bitSize=12, bitOffset=6),
    )
    root.Dev.Trim.set(0xFFF)
    root.Dev.Channel.set(5)
    root.Dev.Enable.set(True)
    assert memory.peek(0, 3) == bytes([0xC0 | 0x0A | 0x01, 0xFF, 0x03])
    assert [v.get(read=True) for v in (root.Dev.Enable, root.Dev.Channel, root.Dev.Trim)] == [
        True,
        5,
        0xFFF,
    ]


@pytest.mark.parametrize(
    ("model", "bitSize", "value", "readBack"),
    [
        ("Int", 8, -128, -128),
        ("UInt", 48, 2**48 - 1, 2**48 - 1),
        ("UInt", 64, 2**64 - 1, 2**64 - 1),
        ("Float", 32, 0.1, float(np.float32(0.1))),
        ("Double", 64, 0.1, 0.1),
        ("UIntBE", 32, 0x01020304, 0x01020304),
        ("Bool", 1, 1, True),
    ],
)
def test_remote_round_trips(tree, make, model, bitSize, value, readBack):
    root = make(remote(tree, name="R", offset=16, bitSize=bitSize, base=getattr(tree, model)))
    root.Dev.R.set(value)
    assert root.Dev.R.get(read=True) == readBack
    assert root.Dev.R.get(read=False) == readBack


def test_big_endian_layout(tree, memory, make):
    root = make(remote(tree, name="R", base=tree.UIntBE))
    root.Dev.R.set(0x01020304)
    assert memory.peek(0, 4) == bytes([1, 2, 3, 4])


@pytest.mark.parametrize(
    ("model", "bitSize", "bad"),
    [
        ("UInt", 12, 4096),
        ("Int", 16, 32768),
        ("Int", 16, -32769),
        ("Float", 32, 3.5e38),
        ("Float", 32, float("inf")),
    ],
)
def test_remote_range_error_changes_nothing(tree, memory, make, model, bitSize, bad):
    root = make(remote(tree, name="R", bitSize=bitSize, base=getattr(tree, model), value=1))
    root.WriteAll()
    before = memory.peek(0, 8)
    with pytest.raises(tree.GeneralError, match=r"Value range error.*R"):
        root.Dev.R.set(bad)
    assert memory.peek(0, 8) == before
    assert root.Dev.R.get(read=False) == 1


@pytest.mark.parametrize(
    ("model", "bitSize"), [("UInt", 32), ("Int", 16), ("Float", 32), ("Bool", 1)]
)
@pytest.mark.parametrize("bad", ["5", b"5"])
def test_strings_to_numeric_remotes_raise_general_error(tree, memory, make, model, bitSize, bad):
    root = make(remote(tree, name="R", bitSize=bitSize, base=getattr(tree, model)))
    with pytest.raises(tree.GeneralError, match="Failed to extract"):
        root.Dev.R.set(bad)
    assert memory.peek(0, 4) == bytes(4)


def test_float_to_integer_remote_raises_general_error(tree, make):
    root = make(remote(tree, name="R"))
    with pytest.raises(tree.GeneralError):
        root.Dev.R.set(1.5)


def test_string_remote_stores_at_most_n_minus_1_characters(tree, memory, make):
    root = make(remote(tree, name="S", bitSize=8 * 8, base=tree.String))
    root.Dev.S.set("abc")
    assert root.Dev.S.get(read=True) == "abc"
    root.Dev.S.set("0123456789")
    assert root.Dev.S.get(read=False) == "0123456"
    assert root.Dev.S.get(read=True) == "0123456"
    assert memory.peek(0, 8) == b"0123456\0"
    with pytest.raises(tree.GeneralError):
        root.Dev.S.set(5)


def test_remote_arrays(tree, memory, make):
    root = make(
        remote(
            tree,
            name="A",
            offset=0x10,
            numValues=4,
            valueBits=32,
            valueStride=32,
            value="[1, 2, 3, 4]",
        )
    )
    root.WriteAll()
    assert memory.peek(0x10, 16) == bytes([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0])
    with pytest.raises(tree.GeneralError, match="int64"):
        root.Dev.A.set(np.array([5, 6, 7, 8]))  # as rogue: a UInt array takes unsigned dtypes
    root.Dev.A.set(np.array([5, 6, 7, 8], dtype=np.uint32))
    value = root.Dev.A.get(read=True)
    assert value.dtype == np.uint32 and value.tolist() == [5, 6, 7, 8]
    assert root.Dev.A.genDisp(value) == "[0x5, 0x6, 0x7, 0x8]"
    assert root.Dev.A.parseDisp("[0x5, 0x6, 0x7, 0x8]").tolist() == [5, 6, 7, 8]
    root.Dev.A.set([1, 2, 3])  # as in rogue, a shorter list sets the first values
    assert root.Dev.A.get(read=True).tolist() == [1, 2, 3, 8]
    root.Dev.A.set(9, index=3)
    assert root.Dev.A.get(read=True, index=3) == 9
    with pytest.raises(tree.GeneralError, match="Overflow"):
        root.Dev.A.set([1, 2, 3, 4, 5])
    with pytest.raises(OverflowError):  # as rogue: negative values do not convert to unsigned
        root.Dev.A.set([1, 2, 3, -4])
    with pytest.raises(OverflowError):
        root.Dev.A.set(-1, index=0)
    assert root.Dev.A.get(read=True).tolist() == [1, 2, 3, 9]


def test_invalid_models_are_refused_at_definition(tree):
    with pytest.raises(AssertionError):
        remote(tree, base=tree.Bool, bitSize=2)
    with pytest.raises(AssertionError):
        remote(tree, base=tree.Float, bitSize=64)
    with pytest.raises(tree.VariableError):
        remote(tree, base=tree.String, numValues=2, valueBits=64, valueStride=64)
    with pytest.raises(tree.VariableError):
        local(tree, value=0, mode="XX")


# --- commands -----------------------------------------------------------------------------------


def test_command_basics(tree, make):
    calls = []

    def run(root, dev, cmd, arg):
        calls.append((root.name, dev.name, cmd.name, arg))
        return arg * 2

    root = make(
        tree.LocalCommand(name="WithArg", value=3, function=run),
        tree.LocalCommand(name="NoArg", function=lambda: calls.append("no arg")),
    )
    cmd = root.Dev.WithArg
    assert (cmd.isCommand, cmd.mode, cmd.typeStr, cmd.arg) == (True, "WO", "int", True)
    assert root.Dev.NoArg.arg is False
    assert root.Dev.NoArg.typeStr == "int"
    assert cmd() == 6
    assert cmd(0) == 0
    assert cmd("0x10") == 32
    root.Dev.NoArg()
    assert calls == [
        ("root", "Dev", "WithArg", 3),
        ("root", "Dev", "WithArg", 0),
        ("root", "Dev", "WithArg", 16),
        "no arg",
    ]


@pytest.mark.parametrize(
    ("value", "typeStr", "text", "received"),
    [
        (0.0, "float", "1.5", 1.5),
        ("", "str", "file.yml", "file.yml"),
        (False, "bool", "True", True),
        ("", "str", "12", "12"),
    ],
)
def test_command_string_arguments(tree, value, typeStr, text, received):
    cmd = tree.LocalCommand(name="C", value=value, function=lambda arg: arg)
    assert cmd.typeStr == typeStr
    assert cmd(text) == received


def test_command_exceptions_propagate(tree, make):
    def fail():
        raise RuntimeError("boom")

    root = make(tree.LocalCommand(name="Fail", function=fail))
    with pytest.raises(RuntimeError, match="boom"):
        root.Dev.Fail()


def test_remote_command_writes_its_register(tree, memory, make):
    root = make(
        tree.RemoteCommand(
            name="Trigger", offset=0x20, bitSize=1, base=tree.UInt, function=lambda cmd: cmd.set(1)
        ),
        tree.RemoteCommand(name="Load", offset=0x24, function=lambda cmd, arg: cmd.set(arg)),
    )
    assert memory.peek(0x20, 1) == b"\0"  # commands are not written at start
    assert (root.Dev.Trigger.arg, root.Dev.Load.arg) == (False, True)
    assert (root.Dev.Trigger.mode, root.Dev.Trigger.isCommand, root.Dev.Trigger.typeStr) == (
        "WO",
        True,
        "UInt1",
    )
    root.Dev.Trigger()
    root.Dev.Load(0x1234)
    assert memory.peek(0x20, 1) == b"\x01"
    assert memory.peek(0x24, 2) == bytes([0x34, 0x12])


# --- root lifecycle -----------------------------------------------------------------------------


class Protocol:
    def __init__(self, name, log, failStart=False):
        self.name, self.log, self.failStart = name, log, failStart

    def _start(self):
        if self.failStart:
            raise RuntimeError(f"{self.name} cannot start")
        self.log.append(("start", self.name))

    def _stop(self):
        self.log.append(("stop", self.name))


def test_protocols_start_in_order_and_stop_in_reverse(tree, make):
    log = []
    root = make(start=False)
    for name in "ab":
        root.addProtocol(Protocol(name, log))
    assert not root.running
    with root:
        assert root.running
        assert log == [("start", "a"), ("start", "b")]
    assert not root.running
    assert log[2:] == [("stop", "b"), ("stop", "a")]


def test_protocol_sees_a_running_root(tree, make):
    root = make(start=False)
    seen = []
    protocol = Protocol("p", [])
    protocol._start = lambda: seen.append(root.running)
    root.addProtocol(protocol)
    root.start()
    assert seen == [True]


def test_failing_protocol_start_stops_the_root(tree, make):
    log = []
    root = make(start=False)
    root.addProtocol(Protocol("a", log))
    root.addProtocol(Protocol("b", log, failStart=True))
    with pytest.raises(RuntimeError, match="b cannot start"):
        root.start()
    assert not root.running
    assert log == [("start", "a"), ("stop", "a")]


def test_start_twice_fails_stop_twice_is_harmless_restart_works(tree, make, listen):
    root = make(local(tree, name="V", value=0))
    with pytest.raises(tree.NodeError):
        root.start()
    root.stop()
    root.stop()
    root.start()
    updates = listen(root.Dev.V)
    root.Dev.V.set(1)
    updates.wait(lambda values: values == [1])


# --- listeners and polling ----------------------------------------------------------------------


def test_listeners_run_on_the_update_thread(tree, make, listen):
    root = make(local(tree, name="V", value=0, highWarning=5))
    updates = listen(root.Dev.V)
    root.Dev.V.set(7)
    updates.wait(lambda values: values == [7])
    path, vv, thread = updates.calls[0]
    assert path == "root.Dev.V"
    assert (vv.value, vv.valueDisp, vv.status, vv.severity) == (7, "7", "AlarmHigh", "AlarmMinor")
    assert thread != threading.get_ident()


def test_a_burst_is_coalesced_in_order_and_ends_with_the_last_value(tree, make, listen):
    root = make(local(tree, name="V", value=-1))
    updates = listen(root.Dev.V)
    for i in range(2000):
        root.Dev.V.set(i)
    updates.wait(lambda values: values and values[-1] == 1999)
    values = updates.values()
    assert values == sorted(set(values))
    assert len(values) <= 2000


def test_every_listener_is_called_even_if_one_fails(tree, make, listen):
    root = make(local(tree, name="V", value=0))

    def broken(path, vv):
        raise RuntimeError("listener bug")

    root.Dev.V.addListener(broken)
    updates = listen(root.Dev.V)
    root.Dev.V.set(1)
    root.Dev.V.set(2)
    updates.wait(lambda values: values[-1:] == [2])


def test_no_updates_before_start(tree, make, listen):
    root = make(local(tree, name="V", value=0), local(tree, name="Flag", value=0), start=False)
    updates, flags = listen(root.Dev.V), listen(root.Dev.Flag)
    root.Dev.V.set(1)
    root.start()
    root.Dev.Flag.set(1)
    flags.wait(lambda values: values == [1])
    assert updates.values() == []


def test_poll_calls_local_get_and_notifies_changes(tree, make, listen):
    count = iter(range(1, 1000))
    root = make(
        local(tree, name="V", value=0, pollInterval=0.01, localGet=lambda: next(count)), pollEn=True
    )
    updates = listen(root.Dev.V)
    updates.wait(lambda values: len(values) >= 3)
    values = updates.values()
    assert values == sorted(values)


def test_poll_reads_remote_variables_through_memory(tree, memory, make, listen):
    root = make(remote(tree, name="R", offset=4, pollInterval=0.01), pollEn=True)
    updates = listen(root.Dev.R)
    memory.poke(4, bytes([42, 0, 0, 0]))
    updates.wait(lambda values: values == [42])


def test_every_poll_is_announced(tree, make, listen):
    polls = threading.Semaphore(0)

    def constant():
        polls.release()
        return 5

    root = make(
        local(tree, name="Same", value=5, pollInterval=0.01, localGet=constant),
        local(tree, name="Marker", value=0),
        pollEn=True,
    )
    same, marker = listen(root.Dev.Same), listen(root.Dev.Marker)
    for _ in range(3):
        assert polls.acquire(timeout=5)
    root.Dev.Marker.set(1)  # delivered after anything the polls queued before it
    marker.wait(lambda values: values == [1])
    assert same.values() and set(same.values()) == {5}  # as in pyrogue: unchanged values too


def test_poll_enable_switches_polling(tree, make):
    polled = threading.Event()

    def get():
        polled.set()
        return 0

    root = make(local(tree, name="V", value=0, pollInterval=0.01, localGet=get), start=False)
    assert root.pollEn is False
    root.start()
    polled.clear()  # start itself reads once
    assert not polled.wait(0.2)
    root.pollEn = True
    assert polled.wait(5)


def test_a_failing_poll_is_logged_and_polling_goes_on(tree, memory, make, listen, caplog, wait_for):
    root = make(remote(tree, name="R", pollInterval=0.01))
    updates = listen(root.Dev.R)
    memory.injectFault(0, 4)
    root.pollEn = True
    wait_for(lambda: any("root.Dev.R" in r.getMessage() for r in list(caplog.records)))
    memory.poke(0, b"\x03")
    memory.heal(0, 4)
    updates.wait(lambda values: values == [3])


def test_read_fault_reaches_the_reader_and_write_fault_changes_nothing(tree, memory, make):
    from sim.memory import MemoryFault  # the fault type of the simulated memory

    root = make(remote(tree, name="R", value=1))
    root.WriteAll()
    memory.injectFault(0, 4)
    with pytest.raises(MemoryFault):
        root.Dev.R.get(read=True)
    with pytest.raises(MemoryFault):
        root.Dev.R.getVariableValue(read=True)
    with pytest.raises(MemoryFault):
        root.Dev.R.set(2)
    assert root.Dev.R.get(read=False) == 1
    memory.heal(0, 4)
    assert root.Dev.R.get(read=True) == 1


# --- scale --------------------------------------------------------------------------------------


def test_twenty_thousand_variables_build_and_start(tree):
    root = tree.Root(name="big", pollEn=False)
    for d in range(20):
        dev = tree.Device(name=f"Dev{d:02d}")
        dev.add(
            [
                local(tree, name=f"V{i:04d}", value=float(i), groups=["Odd"] if i % 2 else None)
                for i in range(1000)
            ]
        )
        root.add(dev)
    with root:
        variables = own(root)
        assert len(variables) == 20_000
        assert len({v.path for v in root.variableList}) == len(root.variableList)
        assert variables[0].path == "big.Dev00.V0000"
        assert variables[-1].path == "big.Dev19.V0999"
        assert sum(v.filterByGroup("Odd", None) for v in variables) == 10_000
        assert root.Dev07.V0123.get() == 123.0
