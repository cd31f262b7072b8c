"""Unit tests of sim.device.SimRoot: values and behaviours (its tree is checked against
docs/sim-device.md by test_simulator_doc.py)."""

import importlib
import json
import logging
import time

import numpy as np
import pytest

from sim import SimRoot
from sim.device import UpTimeCounter
from sim.memory import MemoryFault
from sim.tree import VariableError


@pytest.fixture
def root():
    """A started SimRoot without polling (tests drive reads themselves)."""
    with SimRoot(pollEn=False) as sim:
        yield sim


def test_groups_keep_internal_state_unserved(root):
    unserved = [v.path for v in root.variableList if not v.filterByGroup(None, ["NoServe"])]
    assert unserved == ["root.Version.InternalState"]


def test_simroot_options_and_loading_by_name():
    loaded = importlib.import_module("sim").SimRoot
    assert loaded is SimRoot
    with SimRoot(name="other", pollEn=False) as other:
        assert (other.name, other.pollEn, other.Version.ScratchPad.path) == (
            "other",
            False,
            "other.Version.ScratchPad",
        )
    assert SimRoot().pollEn is True


def test_many_instances_are_independent():
    first, second = SimRoot(pollEn=False), SimRoot(pollEn=False)
    with first, second:
        first.Version.ScratchPad.set(0xAA)
        assert second.Version.ScratchPad.get(read=True) == 0
        assert first.Version.ScratchPad.get(read=True) == 0xAA


def test_register_layout_in_memory(root):
    mem = root.memory
    assert mem.peek(0x0000, 4) == bytes([4, 3, 2, 1])
    assert mem.peek(0x0010, 8) == (0x0123456789ABCDEF).to_bytes(8, "little")
    assert mem.peek(0x0100, 33) == b"rogue-ioc simulator (sim.device)\0"
    root.Adc.Trim.set(0xFFF)
    root.Adc.Enable.set(True)
    assert mem.peek(0x0200, 3) == bytes([0xC1, 0xFF, 0x03])
    root.Adc.Samples.set([1, 2, 3, 4])
    assert mem.peek(0x0210, 16) == b"".join(i.to_bytes(4, "little") for i in (1, 2, 3, 4))
    root.Types.UIntBE32.set(0x01020304)
    assert mem.peek(0x0460, 4) == bytes([1, 2, 3, 4])
    root.Types.Int16.set(-2)
    assert mem.peek(0x0448, 2) == b"\xfe\xff"
    root.Faulty.Reg0.set(5)
    root.Slow.Reg.set(6)
    assert (mem.peek(0x1000, 1), mem.peek(0x2000, 1)) == (b"\x05", b"\x06")


def test_uptime_counter_counts_whole_seconds_from_reset():
    now = [100.0]
    counter = UpTimeCounter(clock=lambda: now[0])
    assert counter.register() == bytes(4)
    now[0] = 102.7
    assert counter.register() == (2).to_bytes(4, "little")
    counter.reset()
    assert counter.register() == bytes(4)
    now[0] = 102.7 + 70000
    assert counter.register() == (70000).to_bytes(4, "little")


def test_uptime_is_read_from_memory_and_reset(root):
    assert root.Version.UpTimeCnt.get(read=True) < 5
    root.Version.Reset()
    assert root.Version.UpTimeCnt.get(read=False) == 0


@pytest.mark.parametrize(
    ("heater", "status", "severity"),
    [
        (0.0, "Good", "Good"),
        (50.0, "AlarmHigh", "AlarmMinor"),
        (70.0, "AlarmHiHi", "AlarmMajor"),
        (-20.0, "AlarmLow", "AlarmMinor"),
        (-30.0, "AlarmLoLo", "AlarmMajor"),
    ],
)
def test_heater_drives_temperature_alarms(root, heater, status, severity):
    root.Thermal.Heater.set(heater)
    vv = root.Thermal.Temperature.getVariableValue(read=False)
    assert abs(vv.value - (25 + heater)) <= 2
    assert (vv.status, vv.severity) == (status, severity)
    assert vv.valueDisp == f"{vv.value:.2f}"


def test_heater_range(root):
    with pytest.raises(VariableError, match="Value range error"):
        root.Thermal.Heater.set(100.5)


def test_heater_change_reaches_temperature_listeners(root, listen):
    updates = listen(root.Thermal.Temperature)
    root.Thermal.Heater.set(70.0)
    updates.wait(lambda values: values and values[-1] > 90)


def test_waveform_moves_when_read(root, wait_for):
    first = root.Adc.Waveform.get(read=True)
    assert first.shape == (8,) and first.dtype == np.float64
    assert np.all(np.abs(first) <= 1)
    wait_for(lambda: not np.array_equal(root.Adc.Waveform.get(read=True), first))


def test_polling_moves_values_for_listeners(listen):
    with SimRoot() as sim:
        updates = listen(sim.Adc.Waveform)
        updates.wait(lambda values: len(values) >= 1, timeout=10)


def test_local_int_is_mirrored_by_ro_int(root, listen):
    updates = listen(root.Types.RoInt)
    root.Types.LocalInt.set(42)
    assert root.Types.RoInt.get() == 42
    updates.wait(lambda values: values == [42])


@pytest.mark.parametrize(
    ("command", "arg", "lastArg"),
    [
        ("Ping", None, "Ping()"),
        ("SetCount", 0, "SetCount(0)"),
        ("SetCount", 12, "SetCount(12)"),
        ("Scale", 1.5, "Scale(1.5)"),
        ("Scale", "2.5", "Scale(2.5)"),
        ("SaveConfig", "file.yml", "SaveConfig('file.yml')"),
        ("Arm", True, "Arm(True)"),
        ("Arm", "False", "Arm(False)"),
        ("Sleep", 0.0, "Sleep(0.0)"),
    ],
)
def test_commands_record_their_calls(root, command, arg, lastArg):
    getattr(root.Cmd, command)(arg)
    assert root.Cmd.LastArg.get() == lastArg
    assert root.Cmd.CallCount.get() == 1


def test_set_count_and_default_argument(root):
    root.Cmd.SetCount(5)
    assert root.Cmd.Count.get() == 5
    root.Cmd.SetCount()  # as in pyrogue, a command keeps its last argument as the default
    assert root.Cmd.Count.get() == 5
    assert (root.Cmd.LastArg.get(), root.Cmd.CallCount.get()) == ("SetCount(5)", 2)


@pytest.mark.parametrize(
    ("command", "arg", "error"),
    [("Fail", None, RuntimeError), ("Sleep", 10.5, ValueError), ("Sleep", -1.0, ValueError)],
)
def test_failed_commands_are_not_counted(root, command, arg, error):
    with pytest.raises(error):
        getattr(root.Cmd, command)(arg)
    assert (root.Cmd.CallCount.get(), root.Cmd.LastArg.get()) == (0, "")


def test_fail_message(root):
    with pytest.raises(RuntimeError, match=r"^simulated command failure$"):
        root.Cmd.Fail()


def test_sleep_sleeps(root):
    start = time.monotonic()
    root.Cmd.Sleep(0.2)
    assert time.monotonic() - start >= 0.2
    assert root.Cmd.LastArg.get() == "Sleep(0.2)"


def test_read_and_write_faults_of_the_faulty_block(root):
    root.Faulty.Reg0.set(1)
    root.SimControl.ReadFault.set(True)
    with pytest.raises(MemoryFault):
        root.Faulty.Reg0.get(read=True)
    with pytest.raises(MemoryFault):
        root.Faulty.Reg1.get(read=True)
    root.Faulty.Reg0.set(2)  # writes still work
    assert root.Slow.Reg.get(read=True) == 0  # other blocks are unaffected
    root.SimControl.WriteFault.set(True)
    with pytest.raises(MemoryFault):
        root.Faulty.Reg0.set(3)
    assert root.Faulty.Reg0.get(read=False) == 2
    root.SimControl.ReadFault.set(False)
    assert root.Faulty.Reg0.get(read=True) == 2
    with pytest.raises(MemoryFault):
        root.Faulty.Reg0.set(3)
    root.SimControl.WriteFault.set(False)
    root.Faulty.Reg0.set(3)
    assert root.Faulty.Reg0.get(read=True) == 3


def test_slow_latency_slows_the_slow_block(root):
    root.SimControl.SlowLatency.set(0.2)
    start = time.monotonic()
    root.Slow.Reg.set(1)
    assert time.monotonic() - start >= 0.2
    root.SimControl.SlowLatency.set(0.0)
    with pytest.raises(VariableError, match="Value range error"):
        root.SimControl.SlowLatency.set(11.0)


def test_wedge_holds_listener_delivery_and_returns_at_once(root, listen):
    updates = listen(root.Cmd.Count)
    root.SimControl.Wedge(1.0)
    for i in range(1, 6):
        root.Cmd.Count.set(i)
    assert updates.quiet(0.3)
    updates.wait(lambda values: values == [5], timeout=5)


def test_wedge_argument_range(root):
    with pytest.raises(ValueError):
        root.SimControl.Wedge(61.0)
    with pytest.raises(ValueError):
        root.SimControl.Wedge(-1.0)


def test_long_path_variables(root):
    leaf = root.Crate.Slot03.CarrierBoard.FrontEndAmplifierChannel07
    assert len(f"SIM:{leaf.CalibrationCoefficient.path.replace('.', ':')}") > 60
    assert len(f"SIM:{leaf.GainStageSelection.path.replace('.', ':')}") > 60


def test_system_log_keeps_warnings_of_the_tree_loggers(root):
    root.SimControl.LogWarning("first")
    root.SimControl.LogWarning("x" * 5000)
    entries = wait_entries(root, 2)
    assert [e["message"] for e in entries] == ["SimControl: first", "SimControl: " + "x" * 5000]
    assert entries[0]["levelName"] == "WARNING"
    assert json.loads(root.SystemLogLast.get(read=False))["message"].endswith("x" * 5000)
    assert len(root.SystemLog.get(read=False)) > 4096
    root.ClearLog()
    assert root.SystemLog.get(read=False) == "[]"


def test_system_log_ignores_info_at_the_default_level(root):
    logging.getLogger("sim.test").info("below the default level")
    assert root.SystemLog.get(read=False) == "[]"


def wait_entries(root, count: int) -> list:
    deadline = time.monotonic() + 5
    while True:
        entries = json.loads(root.SystemLog.get(read=False))
        if len(entries) >= count or time.monotonic() > deadline:
            return entries
        time.sleep(0.01)


def test_stream_frames_change_the_data_length(root):
    root.Stream.SendFrame(1024)
    assert root.Stream.Data.get(read=False).tolist() == [(i + 1) % 256 for i in range(1024)]
    root.Stream.SendFrame(3)
    assert root.Stream.Data.get(read=False).tolist() == [2, 3, 4]
    assert root.Stream.FrameCount.get(read=False) == 2
    with pytest.raises(ValueError):
        root.Stream.SendFrame(0)
