"""The default simulated Root, `sim:SimRoot` (its tree is listed, generated, in docs/sim-device.md).

Moving values move only when read: UpTimeCnt is a memory-side counter consulted on each read of
its register, Temperature and Waveform are computed by localGet; all three are polled once a
second. `root.SimControl` drives the memory's fault injection and latency and can wedge the
Root's update thread, so remote clients can exercise error paths through PVs.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from sim.memory import MemoryEmulator
from sim.tree import (
    Bool,
    Device,
    Double,
    Float,
    Int,
    LocalCommand,
    LocalVariable,
    RemoteVariable,
    Root,
    String,
    UInt,
    UIntBE,
)

__all__ = ["SimRoot", "UpTimeCounter"]

#: The tree's logger family; SimRoot mirrors it into SystemLog as pyrogue does with 'pyrogue'.
_treeLog = logging.getLogger("sim")

MEMORY_SIZE = 0x3000
VERSION_BASE, ADC_BASE, TYPES_BASE, IDENTITY_BASE = 0x0000, 0x0200, 0x0400, 0x0600
FAULTY_BASE, SLOW_BASE, BLOCK_SIZE = 0x1000, 0x2000, 0x1000
UPTIME_OFFSET = 0x08
FPGA_VERSION = 0x01020304
DEVICE_DNA = 0x0123456789ABCDEF
BUILD_STAMP = "rogue-ioc simulator (sim.device)"
#: AxiVersion-like identity registers: (name, bits, offset, value, mode), top bits set.
IDENTITY_ROWS = (
    ("FdSerial", 64, 0x00, 0xF0E1D2C3B4A59687, "RO"),
    ("DeviceDna", 128, 0x10, 0x8123456789ABCDEF0FEDCBA987654321, "RO"),
    ("GitHash", 160, 0x20, 0xC0FFEE00DEADBEEF0123456789ABCDEF87654321, "RO"),
    ("UserId", 128, 0x40, 0x80000000000000000000000000000001, "RW"),
)
#: SystemLog keeps at most this many records, as a pyrogue Root's default ``maxLog``.
MAX_LOG = 1000
# (bit size, offset) of the integer rows of root.Types
_UINT_ROWS = ((8, 0x10), (16, 0x18), (31, 0x20), (32, 0x28), (48, 0x30), (64, 0x38))
_INT_ROWS = ((8, 0x40), (16, 0x48), (32, 0x50), (64, 0x58))


class UpTimeCounter:
    """Whole seconds since the last reset, served as a little-endian UInt32 register."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()

    def reset(self) -> None:
        """Count from 0 again."""
        self._start = self._clock()

    def register(self) -> bytes:
        """The register's 4 bytes now."""
        return (int(self._clock() - self._start) & 0xFFFFFFFF).to_bytes(4, "little")


class Version(Device):
    """Firmware-version block: constants, a scratch pad, an uptime counter and its Reset."""

    def __init__(self, *, memBase: MemoryEmulator, upTime: UpTimeCounter, **kwargs: Any) -> None:
        super().__init__(memBase=memBase, offset=VERSION_BASE, **kwargs)
        self._upTime = upTime
        memBase.addDynamic(VERSION_BASE + UPTIME_OFFSET, 4, upTime.register)
        # The firmware constants are in the hardware; `value=` shows them before the first read.
        memBase.poke(VERSION_BASE, FPGA_VERSION.to_bytes(4, "little"))
        memBase.poke(VERSION_BASE + 0x10, DEVICE_DNA.to_bytes(8, "little"))
        memBase.poke(VERSION_BASE + 0x100, BUILD_STAMP.encode())
        self.add(
            [
                RemoteVariable(name="FpgaVersion", offset=0x00, mode="RO", value=FPGA_VERSION),
                RemoteVariable(name="ScratchPad", offset=0x04, value=0),
                RemoteVariable(
                    name="UpTimeCnt", offset=UPTIME_OFFSET, mode="RO", units="s", pollInterval=1
                ),
                RemoteVariable(
                    name="DeviceDna", offset=0x10, bitSize=64, mode="RO", value=DEVICE_DNA
                ),
                RemoteVariable(
                    name="BuildStamp",
                    offset=0x100,
                    bitSize=8 * 64,
                    base=String,
                    mode="RO",
                    value=BUILD_STAMP,
                ),
                LocalCommand(name="Reset", function=self._reset),
                LocalVariable(name="InternalState", value=0, groups=["NoServe"]),
            ]
        )

    def _reset(self) -> None:
        self._upTime.reset()
        self.UpTimeCnt.get(read=True)


class Thermal(Device):
    """Thermal block: Temperature follows 25 + Heater within ±2 and carries alarm limits."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add(
            [
                LocalVariable(
                    name="Temperature",
                    value=25.0,
                    mode="RO",
                    units="degC",
                    disp="{:.2f}",
                    lowAlarm=0.0,
                    lowWarning=10.0,
                    highWarning=60.0,
                    highAlarm=80.0,
                    pollInterval=1,
                    localGet=self._temperature,
                ),
                LocalVariable(
                    name="Heater",
                    value=0.0,
                    units="degC",
                    disp="{:.1f}",
                    minimum=-100.0,
                    maximum=100.0,
                    localSet=self._heaterChanged,
                ),
                LocalVariable(
                    name="Threshold",
                    value=45.0,
                    units="degC",
                    disp="{:.3f}",
                    minimum=0.0,
                    maximum=150.0,
                ),
                LocalVariable(name="Mode", value=1, enum={0: "Off", 1: "Auto", 2: "Manual"}),
            ]
        )

    def _temperature(self) -> float:
        return 25.0 + self.Heater.value() + 2.0 * math.sin(time.monotonic() / 10.0)

    def _heaterChanged(self) -> None:
        self.Temperature.get(read=True)


class Adc(Device):
    """ADC block: a moving waveform, enums and register bit fields."""

    _PHASES = np.linspace(0.0, 2.0 * math.pi, 8, endpoint=False)

    def __init__(self, *, memBase: MemoryEmulator, **kwargs: Any) -> None:
        super().__init__(memBase=memBase, offset=ADC_BASE, **kwargs)
        self.add(
            [
                LocalVariable(
                    name="Waveform",
                    value=np.zeros(8),
                    mode="RO",
                    pollInterval=1,
                    localGet=self._waveform,
                ),
                LocalVariable(name="Gain", value=1, enum={1: "x1", 2: "x2", 4: "x4", 8: "x8"}),
                RemoteVariable(name="Enable", offset=0x00, bitOffset=0, bitSize=1, base=Bool),
                RemoteVariable(name="Channel", offset=0x00, bitOffset=1, bitSize=3),
                RemoteVariable(name="Range", offset=0x00, bitOffset=4, bitSize=2),
                RemoteVariable(name="Trim", offset=0x00, bitOffset=6, bitSize=12),
                LocalVariable(
                    name="InputSelect", value=0, enum={i: f"Input{i:02d}" for i in range(20)}
                ),
                RemoteVariable(
                    name="Samples", offset=0x10, numValues=4, valueBits=32, valueStride=32
                ),
            ]
        )

    def _waveform(self) -> np.ndarray:
        return np.sin(self._PHASES + time.monotonic())


class Cmd(Device):
    """Commands without and with int/float/str/bool arguments, recording their calls."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._callLock = threading.Lock()
        self.add(
            [
                LocalVariable(name="Count", value=0),
                LocalVariable(name="CallCount", value=0, mode="RO"),
                LocalVariable(name="LastArg", value="", mode="RO"),
                LocalCommand(name="Ping", function=self._ping),
                LocalCommand(name="SetCount", value=0, function=self._setCount),
                LocalCommand(name="Scale", value=0.0, function=self._echo("Scale")),
                LocalCommand(name="SaveConfig", value="", function=self._echo("SaveConfig")),
                LocalCommand(name="Arm", value=False, function=self._echo("Arm")),
                LocalCommand(name="Fail", function=self._fail),
                LocalCommand(name="Sleep", value=0.0, function=self._sleep),
            ]
        )

    def _called(self, call: str) -> None:
        """Record a successful call."""
        with self._callLock:
            self.LastArg.set(call)
            self.CallCount.set(self.CallCount.value() + 1)

    def _ping(self) -> None:
        self._called("Ping()")

    def _setCount(self, arg: int) -> None:
        self.Count.set(arg)
        self._called(f"SetCount({arg!r})")

    def _echo(self, name: str) -> Callable[[Any], None]:
        def run(arg: Any) -> None:
            self._called(f"{name}({arg!r})")

        return run

    def _fail(self) -> None:
        raise RuntimeError("simulated command failure")

    def _sleep(self, arg: float) -> None:
        if not 0 <= arg <= 10:
            raise ValueError(f"Sleep takes 0..10 seconds, not {arg!r}")
        time.sleep(arg)
        self._called(f"Sleep({arg!r})")


class Types(Device):
    """One RW variable per row of the README's type table (RoInt mirrors LocalInt, RO)."""

    def __init__(self, *, memBase: MemoryEmulator, **kwargs: Any) -> None:
        super().__init__(memBase=memBase, offset=TYPES_BASE, **kwargs)
        self.add(
            [
                LocalVariable(name="Bool", value=False),
                RemoteVariable(name="RemBool", offset=0x00, bitSize=1, base=Bool),
                *(
                    RemoteVariable(name=f"UInt{bits}", offset=offset, bitSize=bits, base=UInt)
                    for bits, offset in _UINT_ROWS
                ),
                *(
                    RemoteVariable(name=f"Int{bits}", offset=offset, bitSize=bits, base=Int)
                    for bits, offset in _INT_ROWS
                ),
                RemoteVariable(name="UIntBE32", offset=0x60, bitSize=32, base=UIntBE),
                RemoteVariable(name="Float32", offset=0x68, bitSize=32, base=Float),
                RemoteVariable(name="Double64", offset=0x70, bitSize=64, base=Double),
                RemoteVariable(name="String32", offset=0x80, bitSize=8 * 32, base=String),
                LocalVariable(name="LocalInt", value=0, localSet=self._mirror),
                LocalVariable(name="LocalFloat", value=0.0),
                LocalVariable(name="LocalStr", value=""),
                LocalVariable(name="LimitedInt", value=0, minimum=-10, maximum=100),
                LocalVariable(
                    name="LimitedFloat",
                    value=0.0,
                    units="V",
                    disp="{:.3f}",
                    minimum=-1.5,
                    maximum=2.5,
                    lowAlarm=-1.0,
                    lowWarning=-0.5,
                    highWarning=1.5,
                    highAlarm=2.0,
                ),
                LocalVariable(
                    name="SmallEnum", value=0, enum={0: "Zero", 1: "One", 5: "Five", 10: "Ten"}
                ),
                LocalVariable(
                    name="BigEnum", value=0, enum={i: f"Label{i:02d}" for i in range(20)}
                ),
                LocalVariable(
                    name="LongLabelEnum",
                    value=0,
                    enum={0: "Short", 1: "ThisLabelIsLongerThanTwentyFiveCharacters"},
                ),
                LocalVariable(name="FloatArray", value=np.zeros(8)),
                RemoteVariable(
                    name="IntArray", offset=0xA0, numValues=4, valueBits=32, valueStride=32
                ),
                LocalVariable(name="List", value=[1, 2, 3]),
                LocalVariable(name="Dict", value={"a": 1}),
                LocalVariable(name="RoInt", value=7, mode="RO"),
            ]
        )

    def _mirror(self, value: int) -> None:
        self.RoInt.set(value)


class SimControl(Device):
    """Fault injection served as PVs: memory faults, slow memory, a wedged update thread.

    In pyrogue's ``NoConfig`` group: faults are not settings, a config file never restores them.
    """

    def __init__(self, *, memory: MemoryEmulator, **kwargs: Any) -> None:
        super().__init__(groups=["NoConfig"], **kwargs)
        self._simMemory = memory
        self.add(
            [
                LocalCommand(name="LogWarning", value="", function=self._logWarning),
                LocalVariable(name="ReadFault", value=False, localSet=self._applyFaults),
                LocalVariable(name="WriteFault", value=False, localSet=self._applyFaults),
                LocalVariable(
                    name="SlowLatency",
                    value=0.0,
                    minimum=0.0,
                    maximum=10.0,
                    units="s",
                    localSet=self._applyLatency,
                ),
                LocalCommand(name="Wedge", value=0.0, function=self._wedge),
            ]
        )

    def _logWarning(self, arg: str) -> None:
        _treeLog.warning("SimControl: %s", arg)

    def _applyFaults(self) -> None:
        self._simMemory.injectFault(
            FAULTY_BASE,
            BLOCK_SIZE,
            read=self.ReadFault.value(),
            write=self.WriteFault.value(),
        )

    def _applyLatency(self, value: float) -> None:
        self._simMemory.setLatency(SLOW_BASE, BLOCK_SIZE, value)

    def _wedge(self, root: Root, arg: float) -> None:
        if not 0 <= arg <= 60:
            raise ValueError(f"Wedge takes 0..60 seconds, not {arg!r}")
        root.holdUpdates(arg)


class Identity(Device):
    """AxiVersion-like identity registers of 64, 128 and 160 bits holding values ≥ 2**(bits-1)."""

    def __init__(self, *, memBase: MemoryEmulator, **kwargs: Any) -> None:
        super().__init__(memBase=memBase, offset=IDENTITY_BASE, **kwargs)
        self.add(
            [
                RemoteVariable(
                    name=name, offset=offset, bitSize=bits, base=UInt, mode=mode, value=value
                )
                for name, bits, offset, value, mode in IDENTITY_ROWS
            ]
        )


class Stream(Device):
    """A stream receiver's last frame: ``Data`` (a uint8 array) changes length per frame.

    ``SendFrame(n)`` delivers a frame of ``n`` bytes (byte ``i`` is ``(i + count) % 256``, count
    being the frame number), as pyrogue's DataReceiver stores each frame it accepts.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add(
            [
                LocalVariable(
                    name="Data",
                    value=np.zeros(1, np.uint8),
                    typeStr="UInt8[np]",  # as pyrogue's DataReceiver; the value's wins
                    disp="",
                    groups=["NoState", "NoStream", "NoConfig"],
                ),
                LocalVariable(name="FrameCount", value=0, mode="RO"),
                LocalCommand(name="SendFrame", value=0, function=self._sendFrame),
            ]
        )

    def _sendFrame(self, arg: int) -> None:
        if not 1 <= arg <= 16 * 1024 * 1024:
            raise ValueError(f"SendFrame takes 1..16777216 bytes, not {arg!r}")
        count = self.FrameCount.value() + 1
        self.Data.set((np.arange(arg) + count) % 256)
        self.FrameCount.set(count)


class Shapes(Device):
    """RW arrays of numpy's default shapes: int64, uint64 and a 2-D float32.

    Initial values are ones CA carries exactly too (it has doubles only); PVA carries any uint64.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add(
            [
                LocalVariable(name="Int64Array", value=np.array([1, 2, 3, 4])),
                LocalVariable(name="UInt64Array", value=np.array([2**53, 2**32 + 1, 0], np.uint64)),
                LocalVariable(name="Matrix", value=np.arange(12, dtype=np.float32).reshape(3, 4)),
            ]
        )


class SystemLogHandler(logging.Handler):
    """Mirrors log records into the Root's ``SystemLog``, as pyrogue's Root does for its loggers.

    Each record becomes a JSON object (created, name, message, exception, traceBack, levelName,
    levelNumber); ``SystemLog`` holds the JSON list of the last :data:`MAX_LOG`, ``SystemLogLast``
    the newest. Like pyrogue's, the handler sees what passes its logger's effective level.
    """

    def __init__(self, root: Root) -> None:
        super().__init__()
        self._root = root
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        """Append ``record`` to the Root's log variables."""
        if not self._root.running:
            return
        entry = {
            "created": record.created,
            "name": record.name,
            "message": record.getMessage(),
            "exception": record.exc_info[0].__name__ if record.exc_info else None,
            "traceBack": None,
            "levelName": record.levelname,
            "levelNumber": record.levelno,
        }
        with self._lock:
            entries = json.loads(self._root.SystemLog.value())[-(MAX_LOG - 1) :]
            entries.append(entry)
            self._root.SystemLogLast.set(json.dumps(entry))
            self._root.SystemLog.set(json.dumps(entries))


def _registerBlock(name: str, base: int, memory: MemoryEmulator, *regs: RemoteVariable) -> Device:
    """A plain Device at `base` holding the registers `regs`."""
    block = Device(name=name, offset=base, memBase=memory)
    block.add(regs)
    return block


def nested_devices(path: str, *leaves: LocalVariable) -> Device:
    """Devices nested along the dotted `path`, the innermost holding `leaves`."""
    names = path.split(".")
    device = Device(name=names[-1])
    device.add(leaves)
    for name in reversed(names[:-1]):
        outer = Device(name=name)
        outer.add(device)
        device = outer
    return device


class SimRoot(Root):
    """The simulated device every end-to-end test runs against (docs/sim-device.md).

    Each instance has its own `memory` (a MemoryEmulator), so many can live in one process.
    Like a pyrogue Root, it keeps what its loggers (``sim.*``) record in ``SystemLog``.
    """

    def __init__(self, *, name: str = "root", pollEn: bool = True) -> None:
        super().__init__(name=name, description="rogue-ioc simulated device", pollEn=pollEn)
        self.memory = MemoryEmulator(MEMORY_SIZE)
        self._upTime = UpTimeCounter()
        self._logHandler = SystemLogHandler(self)
        self.add(
            [
                Version(memBase=self.memory, upTime=self._upTime),
                Thermal(),
                Adc(memBase=self.memory),
                Cmd(),
                Types(memBase=self.memory),
                SimControl(memory=self.memory),
                _registerBlock(
                    "Faulty",
                    FAULTY_BASE,
                    self.memory,
                    RemoteVariable(name="Reg0", offset=0x00),
                    RemoteVariable(name="Reg1", offset=0x04, mode="RO", pollInterval=1),
                ),
                _registerBlock(
                    "Slow", SLOW_BASE, self.memory, RemoteVariable(name="Reg", offset=0)
                ),
                nested_devices(
                    "Crate.Slot03.CarrierBoard.FrontEndAmplifierChannel07",
                    LocalVariable(name="CalibrationCoefficient", value=1.0),
                    LocalVariable(name="GainStageSelection", value=0),
                ),
                Identity(memBase=self.memory),
                Stream(),
                Shapes(),
            ]
        )

    def start(self) -> None:
        """Start the tree; UpTimeCnt counts from this moment."""
        self._upTime.reset()
        _treeLog.addHandler(self._logHandler)
        super().start()
        _treeLog.info("SimRoot %s started", self.name)  # below WARNING: not in SystemLog

    def stop(self) -> None:
        """Stop the tree and its SystemLog."""
        _treeLog.removeHandler(self._logHandler)
        super().stop()
