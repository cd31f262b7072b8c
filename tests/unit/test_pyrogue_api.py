"""Differential suite: the same device code on sim.tree and, when importable, on real pyrogue.

Every test runs once per implementation (`impl`): 'sim' (sim.tree on sim.memory) always, and
'pyrogue' (real pyrogue on rogue's memory emulator) when `import pyrogue` works, else skipped.
Both are held to the same expected facts and behaviours, so passing on both means they agree.
"""

from __future__ import annotations

import importlib
import threading
from types import SimpleNamespace

import numpy as np
import pytest
from pyrogue_devices import build

IMPLEMENTATIONS = ["sim", "pyrogue"]


def _implementation(name: str) -> SimpleNamespace:
    if name == "sim":
        from sim import tree
        from sim.memory import MemoryEmulator

        return SimpleNamespace(
            name=name,
            pr=tree,
            memory=lambda: MemoryEmulator(0x1000),
            GeneralError=tree.GeneralError,
        )
    try:
        pr = importlib.import_module("pyrogue")
        rogue = importlib.import_module("rogue")
        rim = importlib.import_module("rogue.interfaces.memory")
    except ImportError:
        pytest.skip("real pyrogue is not importable here")
    return SimpleNamespace(
        name=name, pr=pr, memory=lambda: rim.Emulate(4, 0x1000), GeneralError=rogue.GeneralError
    )


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request) -> SimpleNamespace:
    """The implementation under test: `pr` (the module), `memory()`, `GeneralError`."""
    return _implementation(request.param)


@pytest.fixture
def root(impl):
    """The started Root of pyrogue_devices.build on the implementation's memory."""
    with build(impl.pr, impl.memory()) as started:
        yield started


CONFIG_PROCESSES = ("LoadConfigProcess", "SaveConfigProcess")


def own(root) -> list:
    """The Variables and Commands of the lab's Devices (not the Root's own ones)."""
    return [
        v
        for v in root.variableList
        if v.parent is not root and v.path.split(".")[1] not in CONFIG_PROCESSES
    ]


#: path → (typeStr, mode, disp, units, minimum, maximum, hidden) of Registers (same for Spare).
REGISTERS = {
    "enable": ("bool", "RW", "enum", None, None, None, False),
    "ReadDevice": ("bool", "WO", "enum", None, None, None, True),
    "WriteDevice": ("str", "WO", "{}", None, None, None, True),
    "Raw": ("UInt32", "RW", "{:#x}", None, 0, 2**32 - 1, True),
    "Enable": ("Bool", "RW", "enum", None, 0, 1, False),
    "Channel": ("UInt3", "RW", "{:d}", None, 0, 7, False),
    "Trim": ("UInt12", "RW", "{:#x}", "mV", 0, 4095, False),
    "Mode": ("UInt2", "RW", "enum", None, 0, 3, False),
    "Signed": ("Int16", "RW", "{:d}", None, -32768, 32767, False),
    "Instance": ("UInt32", "RW", "{:#x}", None, 0, 2**32 - 1, False),
    "Reversed": ("UIntReversed8", "RW", "{:#x}", None, 0, 255, False),
    "BigEndian": ("UIntBE32", "RW", "{:#x}", None, 0, 2**32 - 1, False),
    "Float": ("Float32", "RW", "{:f}", None, -10.0, 10.0, False),
    "Double": ("Double64", "RW", "{:f}", None, -float("inf"), float("inf"), False),
    "Text": ("String(16)", "RW", "{}", None, None, None, False),
    "Split": ("UInt12", "RW", "{:#x}", None, 0, 4095, False),
    "Array": ("uint32(4,)", "RW", "{:#x}", None, 0, 65535, False),
    "Wide": ("UInt128", "RO", "{:#x}", None, 0, 2**128 - 1, False),
    "Limited": ("UInt8", "RW", "{:#x}", None, 2, 200, False),
    **{f"Lane[{i}]": ("UInt8", "RW", "{:#x}", None, 0, 255, False) for i in range(4)},
    "Pulse": ("UInt1", "WO", "{:#x}", None, 0, 1, False),
    "Strobe": ("UInt8", "WO", "{:#x}", None, 0, 255, False),
}
LOGIC = {
    "enable": ("bool", "RW", "enum", None, None, None, False),
    "ReadDevice": ("bool", "WO", "enum", None, None, None, True),
    "WriteDevice": ("str", "WO", "{}", None, None, None, True),
    "Gain": ("float", "RW", "{:.2f}", "dB", 0.0, 10.0, False),
    "Count": ("int", "RW", "{}", None, None, None, False),
    "Label": ("str", "RO", "{}", None, None, None, False),
    "Flag": ("bool", "RW", "enum", None, None, None, False),
    "Samples": ("float64(3,)", "RW", "{}", None, None, None, False),
    "Choice": ("int", "RW", "enum", None, None, None, False),
    "GainX2": ("float", "RW", "{}", None, None, None, False),
    "CountMirror": ("int", "RW", "{}", None, None, None, False),
    "Add": ("int", "WO", "{}", None, None, None, False),
    "Reset": ("int", "WO", "{}", None, None, None, False),
    "Doubled": ("int", "RO", "{}", "counts", None, None, False),
    "Echo": ("str", "WO", "{}", None, None, None, False),
}
EXPECTED = {
    **{f"root.Registers.{k}": v for k, v in REGISTERS.items()},
    **{f"root.Logic.{k}": v for k, v in LOGIC.items()},
    **{f"root.Spare.{k}": v for k, v in REGISTERS.items()},
}
ROOT_NODES = [
    "enable",
    "ReadDevice",
    "WriteDevice",
    "RogueVersion",
    "RogueDirectory",
    "SystemLog",
    "SystemLogLast",
    "ForceWrite",
    "InitAfterConfig",
    "Time",
    "LocalTime",
    "PollEn",
    "WriteAll",
    "ReadAll",
    "SaveState",
    "SaveConfig",
    "LoadConfig",
    "RemoteVariableDump",
    "RemoteConfigDump",
    "Initialize",
    "HardReset",
    "CountReset",
    "ClearLog",
    "SetYamlConfig",
    "GetYamlConfig",
    "GetYamlState",
]


def facts(var) -> tuple:
    return (
        var.typeStr,
        var.mode,
        var.disp,
        var.units,
        var.minimum,
        var.maximum,
        var.hidden,
    )


# --- structure and metadata -----------------------------------------------------------------------


def test_same_nodes_in_the_same_order(root):
    assert [v.path for v in own(root)] == list(EXPECTED)
    assert [v.name for v in root.variableList if v.parent is root][: len(ROOT_NODES)] == ROOT_NODES


@pytest.mark.parametrize("path", list(EXPECTED))
def test_metadata(root, path):
    assert facts(root.getNode(path)) == EXPECTED[path]


def test_enums_commands_and_node_kinds(root):
    regs, logic = root.Registers, root.Logic
    assert regs.Mode.enum == {0: "Off", 1: "On", 2: "Auto"}
    assert regs.Enable.enum == {False: "False", True: "True"}
    assert logic.Choice.enum == {0: "A", 1: "B", 2: "C"}
    assert (logic.Add.arg, logic.Reset.arg, logic.Echo.arg) == (True, False, True)
    assert logic.Add.isCommand and not logic.Count.isCommand and regs.isDevice
    assert logic.Echo.retTypeStr == "str"
    assert root.Logic.Gain.guiGroup == "Tuning" and root.Logic.guiGroup == "Logic"
    assert root.Registers.expand is True and root.Spare.expand is False
    assert sorted(root.Registers.Lane) == [0, 1, 2, 3]
    assert root.Registers.Lane[2] is root.Registers.node("Lane[2]")
    assert root.getNode("root.Logic.Gain") is root.Logic.Gain
    assert root.getNode("root.Logic.Missing") is None
    assert list(root.Logic.commands) == ["ReadDevice", "WriteDevice", "Add", "Reset", "Echo"]
    assert "Gain" in root.Logic.variables and "Add" not in root.Logic.variables
    assert list(root.devices) == [*CONFIG_PROCESSES, "Registers", "Logic", "Spare"]


def test_remote_layout_attributes(root, impl):
    regs = root.Registers
    assert (regs.Array.numValues, regs.Array.valueBits, regs.Array.valueStride) == (4, 16, 16)
    assert (regs.Signed.bulkEn, regs.Signed.updateNotify) == (False, False)
    assert (regs.Trim.verifyEn, regs.Raw.overlapEn, regs.Instance.retryCount) == (False, True, 3)
    assert regs.Instance.base is impl.pr.UInt(32)
    assert regs.Split.varBytes == 8  # whole 4-byte accesses of the memory


PROCESS_NODES = [
    *("enable", "ReadDevice", "WriteDevice", "Start", "Stop", "Running", "Progress", "Message"),
    *("Step", "TotalSteps", "UpdatePeriod"),
]


def test_root_config_processes(root, tmp_path):
    load, save = root.LoadConfigProcess, root.SaveConfigProcess
    assert list(load.nodes) == [*PROCESS_NODES, "LoadMode", "ConfigFile", "YamlString"]
    assert list(save.nodes) == [*PROCESS_NODES, "DataType", "SaveMode", "ConfigFile", "YamlString"]
    assert facts(load.Progress) == ("float", "RO", "{:1.2f}", "Pct", None, None, False)
    root.WriteAll()  # the value= defaults (Limited=5) reach the memory the save reads
    root.Logic.Count.set(4)
    save.SaveMode.setDisp("String")
    save.Start()
    wait(lambda: save.Message.value() == "Done" and save.Running.value() is False)
    assert "Count: 4" in save.YamlString.value()
    root.Logic.Count.set(0)
    load.LoadMode.setDisp("String")
    load.YamlString.set(save.YamlString.value())
    load()
    wait(lambda: load.Message.value() == "Done" and load.Running.value() is False)
    assert root.Logic.Count.value() == 4
    assert load.Progress.value() == 1.0


def wait(predicate, timeout: float = 10.0) -> None:
    """Wait (bounded) until `predicate()` holds."""
    done = threading.Event()
    deadline = timeout
    while not predicate():
        if deadline <= 0:
            raise AssertionError("condition not met in time")
        done.wait(0.02)
        deadline -= 0.02


# --- values ---------------------------------------------------------------------------------


def test_bit_fields_pack_into_the_register(root):
    regs = root.Registers
    regs.Trim.set(0xFFF)
    regs.Channel.set(5)
    regs.Enable.set(True)
    regs.Mode.set(2)
    assert regs.Raw.get() == 0xFFF << 6 | 5 << 1 | 1 | 2 << 20
    regs.Raw.set(0x0000_0042)
    assert [regs.Enable.get(), regs.Channel.get(), regs.Trim.get(), regs.Mode.get()] == [
        False,
        1,
        1,
        0,
    ]
    assert regs.Mode.getDisp() == "Off" and regs.Channel.valueDisp() == "1"


def test_models_round_trip(root):
    regs = root.Registers
    cases = [
        (regs.Signed, -1234),
        (regs.Instance, 0xDEADBEEF),
        (regs.Reversed, 0x01),
        (regs.BigEndian, 0x01020304),
        (regs.Float, 1.5),
        (regs.Double, -2.25),
        (regs.Text, "hello"),
        (regs.Split, 0xABC),
    ]
    for var, value in cases:
        var.set(value)
        assert var.get(read=True) == value, var.path


def test_arrays(root):
    arr = root.Registers.Array
    arr.set(np.array([1, 2, 3, 65535], dtype=np.uint32))
    value = arr.get()
    assert value.dtype == np.uint16 and value.tolist() == [1, 2, 3, 65535]  # as narrow as 16 bits
    arr.set(7, index=1)
    assert arr.get(index=1) == 7
    assert arr.get().tolist() == [1, 7, 3, 65535]
    assert arr.valueDisp() == "[0x1, 0x7, 0x3, 0xffff]"


def test_bad_remote_writes(root, impl):
    regs = root.Registers
    regs.Limited.set(10)
    for bad in (1, 201):
        with pytest.raises(impl.GeneralError, match="Value range error"):
            regs.Limited.set(bad)
    with pytest.raises(impl.GeneralError):
        regs.Instance.set("5")
    with pytest.raises(impl.GeneralError):
        regs.Array.set([1, 2, 3, 4, 5])
    with pytest.raises(OverflowError):
        regs.Instance.set(-1)
    with pytest.raises(OverflowError):
        regs.Wide.set(-1)
    with pytest.raises(impl.GeneralError):
        regs.Float.set(np.float64(2.5))  # a Float32 takes float32 numpy scalars only
    assert regs.Limited.get() == 10


def test_bad_local_writes(root, impl):
    logic = root.Logic
    with pytest.raises(impl.pr.VariableError, match="Value range error"):
        logic.Gain.set(11.0)
    with pytest.raises(impl.pr.VariableError):
        logic.Count.set("five")
    with pytest.raises(impl.pr.VariableError):
        logic.Choice.setDisp("D")


def test_value_defaults_and_write_all(root):
    limited, raw = root.Registers.Limited, root.Registers.Raw
    assert limited.get(read=False) == 5
    assert limited.get(read=True) == 5  # not yet written: a read keeps the default
    raw.set(0x7, write=False)
    assert raw.get(read=True) == 0x7
    root.WriteAll()  # writes what was set without a write
    root.ReadAll()
    assert (limited.get(read=True), root.Registers.Channel.get()) == (5, 3)


def test_local_variables_and_hooks(root):
    logic = root.Logic
    logic.Gain.set(2.5)
    assert logic.seen[-1] == 2.5
    assert logic.Gain.getDisp() == "2.50"
    logic.Gain.setDisp("3.25")
    assert logic.Gain.value() == 3.25
    logic.Samples.set(np.array([1.0, 2.0, 3.0]))
    logic.Samples.set(9.0, index=0)
    assert logic.Samples.get(index=0) == 9.0
    logic.Count.set(7)
    vv = logic.Count.getVariableValue(read=False)
    assert (vv.value, vv.valueDisp, vv.status, vv.severity) == (7, "7", "AlarmHiHi", "AlarmMajor")


def test_link_variables(root):
    logic = root.Logic
    logic.Gain.set(2.0)
    assert logic.GainX2.get() == 4.0
    logic.GainX2.set(3.0)
    assert logic.Gain.value() == 1.5
    logic.CountMirror.set(4)
    assert (logic.Count.value(), logic.CountMirror.get(), logic.Doubled.get()) == (4, 4, 8)
    assert logic.GainX2.dependencies == [logic.Gain]


def test_listeners_follow_dependencies(root):
    seen = threading.Event()
    values = []

    def listener(path, value):
        values.append((path, value.value))
        seen.set()

    root.Logic.Doubled.addListener(listener)
    root.Logic.Count.set(3)
    assert seen.wait(5)
    assert values[-1] == ("root.Logic.Doubled", 6)


def test_commands(root):
    logic = root.Logic
    logic.Count.set(1)
    logic.Add(4)
    assert logic.Count.value() == 5
    logic.Add()  # the last argument is the default
    assert logic.Count.value() == 9
    logic.Reset()
    assert logic.Count.value() == 0
    assert logic.Echo("x") == "echo x"
    assert logic.Add.get() == 4


def test_remote_command_helpers(root):
    regs = root.Registers
    regs.Pulse()
    assert regs.Pulse.get() == 0
    regs.Strobe()
    assert regs.Strobe.get() == 1


def test_disabled_device(root):
    spare = root.Spare
    assert spare.enable.get() is False
    assert spare.enable.valueDisp() == "False"
    assert spare.ReadDevice() is None  # commands of a disabled Device do nothing
    spare.enable.set(True)
    spare.Instance.set(0x1234)
    assert spare.Instance.get() == 0x1234


def test_reset_hooks_and_root_commands(root):
    root.HardReset()
    root.CountReset()
    root.Initialize()
    assert root.Logic.resets == ["hard", "count", "init"]
    root.PollEn.set(True)
    assert root.PollEn.get() is True
    root.PollEn.set(False)
    assert root.PollEn.get() is False


def test_read_all_and_read_device(root):
    regs = root.Registers
    regs.Instance.set(0x55)
    regs.Channel.set(2)
    root.ReadAll()
    assert (regs.Instance.value(), regs.Raw.value()) == (0x55, 4)
    regs.Trim.set(1)
    regs.ReadDevice()
    assert regs.Raw.value() == 0x44


# --- YAML configuration -------------------------------------------------------------------


def test_get_yaml_is_pyrogues_format(root):
    root.Logic.Count.set(3)
    root.Logic.Gain.set(1.25)
    text = root.Logic.getYaml(readFirst=False, modes=["RW", "WO"], recurse=True)
    assert text.splitlines()[:7] == [
        "Logic:",
        "  enable: True",
        "  Gain: 1.25",
        "  Count: 3",
        "  Flag: False",
        "  Samples: '[0.0, 0.0, 0.0]'",
        "  Choice: B",
    ]


def test_set_yaml_and_config_files(root, tmp_path):
    root.setYaml(
        "root:\n  Registers:\n    Instance: 0x42\n    Lane[1]: 9\n  Logic:\n    Count: 2\n",
        writeEach=False,
        modes=["RW", "WO"],
    )
    assert root.Registers.Instance.get() == 0x42
    assert root.Registers.Lane[1].get() == 9
    assert root.Logic.Count.value() == 2
    saved = tmp_path / "config.yml"
    root.Registers.Text.set("cfg")  # rogue's emulated memory starts undefined: no garbage text
    root.SaveConfig(str(saved))
    root.Registers.Instance.set(0)
    root.Logic.Count.set(0)
    root.LoadConfig(str(saved))
    assert (root.Registers.Instance.get(), root.Logic.Count.value()) == (0x42, 2)
    assert "Instance: 0x42" in saved.read_text()


def test_post_hide_find_and_poll_interval(root):
    regs, logic = root.Registers, root.Logic
    regs.Instance.post(0x77)
    assert regs.Instance.get() == 0x77
    logic.hideVariables(True, ["Count", "Label"])
    assert (logic.Count.hidden, logic.Label.hidden, logic.Gain.hidden) == (True, True, False)
    assert [n.name for n in root.Logic.find(typ=root.Logic.Gain.__class__, name="^G")] == ["Gain"]
    nodes, keys = regs.nodeMatch("Lane[1:3]")
    assert ([n.name for n in nodes], keys) == (["Lane[1]", "Lane[2]"], None)
    assert logic.GainX2[0] is logic.Gain
    regs.setPollInterval(2, ["Instance"])
    assert regs.Instance.pollInterval == 2
    assert logic.Count.getExtraAttribute("nothing") is None


def test_device_defaults_and_extra_keywords(impl):
    pr = impl.pr

    class Board(pr.Device):
        def __init__(self, **kwargs):
            super().__init__(defaults={"Level": 3}, **kwargs)
            self.add(pr.LocalVariable(name="Level", value=0, myTag="lab-specific"))

    root = pr.Root(name="root", pollEn=False)
    root.add(Board())
    with root:
        assert root.Board.Level.value() == 3
        assert root.Board.Level.getExtraAttribute("myTag") == "lab-specific"
