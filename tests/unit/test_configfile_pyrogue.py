"""Differential check of the settings file against real pyrogue (skips when Rogue is not installed).

A file the IOC's autosave writes must load into a pyrogue Root with ``loadYaml`` and give the
same values; a file pyrogue's ``saveYaml`` writes (``SaveConfig``'s arguments) must restore
through the IOC's checks with nothing skipped.
"""

import numpy as np
import pytest

pr = pytest.importorskip("pyrogue")

from ioc import configfile  # noqa: E402
from ioc.autosave import Autosave, apply_data, settings_of  # noqa: E402


class Dev(pr.Device):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.add(pr.LocalVariable(name="Int", value=0, typeStr="Int32"))
        self.add(pr.LocalVariable(name="Hex", value=0, disp="{:#x}", typeStr="UInt16"))
        self.add(pr.LocalVariable(name="Flt", value=0.0, disp="{:.3f}"))
        self.add(pr.LocalVariable(name="Flag", value=False))
        self.add(pr.LocalVariable(name="Mode", value=0, enum={0: "Off", 1: "On", 2: "Auto"}))
        self.add(pr.LocalVariable(name="Text", value=""))
        self.add(pr.LocalVariable(name="Arr", value=np.zeros(4, np.float64)))
        self.add(pr.LocalVariable(name="Ro", value=3, mode="RO"))


class SettingsRoot(pr.Root):
    def __init__(self):
        super().__init__(name="root", pollEn=False)
        self.add(Dev(name="Dev"))
        self.add(Dev(name="Arr[0]"))


VALUES = {
    "Int": -5,
    "Hex": 0x1A2B,
    "Flt": 1.0 / 3,
    "Flag": True,
    "Mode": 2,
    "Text": "a: 'b' # c",
}


def _set(root):
    for name, value in VALUES.items():
        root.Dev.node(name).set(value)
    root.Dev.Arr.set(np.array([0.5, -1.25, 3.0, 1e-9]))


def _values(root):
    got = {name: root.Dev.node(name).get() for name in VALUES}
    got["Arr"] = root.Dev.Arr.get().tolist()
    return got


def test_pyrogue_loads_what_the_autosave_writes(tmp_path):
    path = tmp_path / "settings.yml"
    with SettingsRoot() as source:
        _set(source)
        autosave = Autosave(path, period=0)
        autosave.restore(settings_of(source.variableList))
        autosave.start()
        autosave.stop()
        expected = _values(source)
    with SettingsRoot() as target:
        target.loadYaml(str(path), writeEach=True, modes=["RW", "WO"], excGroups="NoConfig")
        got = _values(target)
    assert got["Flt"] == pytest.approx(expected["Flt"], rel=1e-15)
    assert got == expected


def test_the_ioc_restores_what_pyrogue_saves(tmp_path):
    path = tmp_path / "config.yml"
    with SettingsRoot() as source:
        _set(source)
        source.saveYaml(str(path), readFirst=False, modes=["RW", "WO"], excGroups="NoConfig")
    with SettingsRoot() as target:
        settings = settings_of(target.variableList)
        outcome = apply_data(settings, configfile.read(path), "pyrogue file")
        assert outcome.skipped == []
        got = _values(target)
    # pyrogue writes the display string: Flt keeps the three decimals its disp shows
    assert got["Flt"] == pytest.approx(0.333)
    assert {k: v for k, v in got.items() if k != "Flt"} == {
        k: v for k, v in _values_of_source().items() if k != "Flt"
    }


def _values_of_source():
    with SettingsRoot() as root:
        _set(root)
        return _values(root)
