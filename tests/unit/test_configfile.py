"""Unit tests for ioc.configfile and ioc.autosave's value checks: pyrogue's YAML config format."""

import os

import numpy as np
import pytest
import yaml

from ioc import configfile
from ioc.autosave import SettingRejected, apply_data, apply_value, settings_of
from sim.memory import MemoryEmulator
from sim.tree import Device, Int, LocalVariable, RemoteVariable, Root, UInt


class VV:
    """The VariableValue fields the format reads."""

    def __init__(self, value, disp, enum=None):
        self.value, self.valueDisp, self.enum = value, disp, enum


@pytest.mark.parametrize(
    ("vv", "loaded"),
    [
        (VV(0x12, "0x12"), 0x12),
        (VV(12, "00012"), 12),  # YAML would read the display text as octal: written exactly
        (VV(True, "True"), True),
        (VV(1.23456, "1.235"), 1.23456),  # the display loses digits: written exactly
        (VV(1.5, "1.500"), 1.5),
        (VV(1e5, "1e5"), 1e5),
        (VV(1, "On", enum={1: "On"}), "On"),
        (VV("a: b\n'c' #d", "a: b\n'c' #d"), "a: b\n'c' #d"),
        (VV("", ""), ""),
        (VV("True", "True"), "True"),
        (VV(np.array([1.0, 2.5]), "[1.000, 2.500]"), "[1.000, 2.500]"),
        (VV(np.array([1.25, 2.0]), "[1.2, 2.0]"), "[1.25, 2.0]"),
        (VV(None, None), None),
    ],
)
def test_values_read_back_as_written(vv, loaded):
    text = configfile.render([("root.Dev.Var", configfile.yaml_value(vv))])
    assert configfile.parse(text) == {"root": {"Dev": {"Var": loaded}}}
    # pyrogue reads its files with PyYAML's full Loader (YAML 1.1): the same values
    assert yaml.load(text, Loader=yaml.Loader) == {"root": {"Dev": {"Var": loaded}}}


def test_render_nests_by_device_in_tree_order():
    entries = [
        ("root.A.X", "1"),
        ("root.A.B.Y", "2"),
        ("root.A.Z", "3"),
        ("root.Dev[0].V", "4"),
        ("root.W", "5"),
    ]
    text = configfile.render(entries)
    assert text.splitlines() == [
        "root:",
        "  A:",
        "    X: 1",
        "    B:",
        "      Y: 2",
        "    Z: 3",
        "  Dev[0]:",
        "    V: 4",
        "  W: 5",
    ]


PATHS = ["root.A.X", "root.A.Arr", "root.Dev[0].V", "root.Dev[1].V", "root.Dev[2].V", "root.W"]


@pytest.mark.parametrize(
    ("data", "entries", "problems"),
    [
        ({"root": {"A": {"X": 1}}}, [("root.A.X", 1, None)], []),
        ({"root.A.X": 1}, [("root.A.X", 1, None)], []),
        ({"root.A": {"X": 1}}, [("root.A.X", 1, None)], []),
        ({"root": {"Dev[*]": {"V": 2}}}, [(f"root.Dev[{i}].V", 2, None) for i in range(3)], []),
        (
            {"root": {"Dev[1:]": {"V": 2}}},
            [("root.Dev[1].V", 2, None), ("root.Dev[2].V", 2, None)],
            [],
        ),
        ({"root": {"Dev[0]": {"V": 2}}}, [("root.Dev[0].V", 2, None)], []),
        ({"root": {"A": {"Arr[2]": 7}}}, [("root.A.Arr", 7, "2")], []),
        ({"root.A.Arr[0:2]": 7}, [("root.A.Arr", 7, "0:2")], []),
        ({"root": {"Gone": 1, "W": 2}}, [("root.W", 2, None)], ["root.Gone"]),
        ({"other": {"W": 2}}, [], ["other"]),
        ({"root": {"A": 3}}, [], ["root.A"]),
        ({"root": {"Dev[7]": {"V": 1}}}, [], ["root.Dev[7]"]),
    ],
)
def test_keys_resolve_as_pyrogue_resolves_them(data, entries, problems):
    found, trouble = configfile.SettingsTree(PATHS).resolve(data)
    assert [(e.path, e.value, e.index) for e in found] == entries
    assert [p.key for p in trouble] == problems


def test_a_file_that_is_not_a_mapping_is_an_error():
    with pytest.raises(configfile.ConfigError):
        configfile.SettingsTree(PATHS).resolve(["root"])
    with pytest.raises(configfile.ConfigError, match="not valid YAML"):
        configfile.parse("root: [unclosed")


def test_include_is_relative_to_the_including_file(tmp_path):
    (tmp_path / "dev.yml").write_text("X: 5\n")
    (tmp_path / "top.yml").write_text("root:\n  A: !include dev.yml\n")
    assert configfile.read(tmp_path / "top.yml") == {"root": {"A": {"X": 5}}}


def test_write_atomically_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "s.yml"
    target.write_text("old\n")
    configfile.write_atomically(target, "new\n")
    assert target.read_text() == "new\n"
    assert os.listdir(tmp_path) == ["s.yml"]


def test_temporaries_finds_what_a_cut_short_save_leaves(tmp_path):
    target = tmp_path / "s[1].yml"
    (tmp_path / ".s[1].yml.abc123.tmp").write_text("half")
    (tmp_path / ".other.yml.x.tmp").write_text("")
    assert configfile.temporaries(target) == [tmp_path / ".s[1].yml.abc123.tmp"]


def test_write_atomically_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    target = tmp_path / "s.yml"
    target.write_text("old\n")

    def broken(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        configfile.write_atomically(target, "new\n")
    assert target.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["s.yml"]


# --- applying values to a tree ----------------------------------------------------------------


def make_root() -> Root:
    """A started Root (paths exist once it starts, as in pyrogue); the caller stops it."""
    memory = MemoryEmulator(0x100)
    root = Root(name="root")
    dev = Device(name="Dev", offset=0, memBase=memory)
    dev.add(
        [
            RemoteVariable(name="U8", offset=0x0, base=UInt, bitSize=8),
            RemoteVariable(name="Limited", offset=0x4, base=Int, bitSize=16, minimum=-5, maximum=5),
            LocalVariable(name="F", value=0.0),
            LocalVariable(name="Mode", value=0, enum={0: "Off", 1: "On"}),
            LocalVariable(name="Text", value="", typeStr="String(8)"),
            LocalVariable(name="Arr", value=np.zeros(4, np.int32)),
            LocalVariable(name="Ro", value=1, mode="RO"),
            LocalVariable(name="Skip", value=1, groups=["NoConfig"]),
        ]
    )
    root.add(dev)
    root.start()
    return root


@pytest.fixture
def tree():
    root = make_root()
    yield root, settings_of(root.variableList)
    root.stop()


def test_settings_are_the_writable_variables_outside_noconfig(tree):
    _, settings = tree
    assert [path for path in settings if path.startswith("root.Dev.")] == [
        "root.Dev.enable",  # pyrogue's own, like the Root's ForceWrite, PollEn, ...
        "root.Dev.U8",
        "root.Dev.Limited",
        "root.Dev.F",
        "root.Dev.Mode",
        "root.Dev.Text",
        "root.Dev.Arr",
    ]


@pytest.mark.parametrize(
    ("path", "value", "index", "expected"),
    [
        ("root.Dev.U8", "0x12", None, 0x12),
        ("root.Dev.U8", 200, None, 200),
        ("root.Dev.Limited", -5, None, -5),
        ("root.Dev.F", 2, None, 2.0),
        ("root.Dev.F", "2.5", None, 2.5),
        ("root.Dev.Mode", "On", None, 1),
        ("root.Dev.Text", "abc", None, "abc"),
        ("root.Dev.Arr", "[1, 2, 3, 4]", None, [1, 2, 3, 4]),
        ("root.Dev.Arr", 9, "1", [0, 9, 0, 0]),
        ("root.Dev.Arr", 9, "*", [9, 9, 9, 9]),
        ("root.Dev.Arr", "[5, 6]", "2:4", [0, 0, 5, 6]),
    ],
)
def test_values_that_fit_are_set(tree, path, value, index, expected):
    root, settings = tree
    apply_value(settings[path], value, index)
    got = root.node("Dev").node(path.rsplit(".", 1)[1]).get(read=False)
    assert (got.tolist() if isinstance(got, np.ndarray) else got) == expected


@pytest.mark.parametrize(
    ("path", "value", "index"),
    [
        ("root.Dev.U8", 256, None),  # out of the type's range
        ("root.Dev.U8", -1, None),
        ("root.Dev.U8", 2.5, None),  # wrong type
        ("root.Dev.U8", True, None),
        ("root.Dev.U8", "abc", None),
        ("root.Dev.Limited", 6, None),  # outside minimum/maximum
        ("root.Dev.F", "fast", None),
        ("root.Dev.Mode", "Maybe", None),
        ("root.Dev.Text", "123456789", None),  # longer than String(8) holds
        ("root.Dev.Arr", "[1, 2, 3]", None),  # wrong length
        ("root.Dev.Arr", 2.5, "1"),
        ("root.Dev.Arr", 1, "9"),
        ("root.Dev.Mode", 1, "0"),
    ],
)
def test_values_that_do_not_fit_are_refused_and_change_nothing(tree, path, value, index):
    _, settings = tree
    var = settings[path].var
    before = np.copy(var.get(read=False))
    with pytest.raises(SettingRejected):
        apply_value(settings[path], value, index)
    assert np.array_equal(var.get(read=False), before)


def test_apply_data_applies_what_fits_and_lists_the_rest(tree):
    root, settings = tree
    data = {"root": {"Dev": {"U8": 7, "Limited": 99, "Gone": 1, "Ro": 5, "Arr": {0: 1, 3: 4}}}}
    outcome = apply_data(settings, data, "test")
    assert outcome.applied == 2
    assert sorted(key for key, _ in outcome.skipped) == [
        "root.Dev.Gone",
        "root.Dev.Limited",
        "root.Dev.Ro",
    ]
    assert root.Dev.U8.get(read=False) == 7
    assert root.Dev.Arr.get(read=False).tolist() == [1, 0, 0, 4]


def test_a_saved_tree_restores_into_a_fresh_one(tree):
    _, settings = tree
    for path, value in [("root.Dev.U8", 0x5A), ("root.Dev.F", 1.0 / 3), ("root.Dev.Mode", 1)]:
        settings[path].var.set(value)
    settings["root.Dev.Text"].var.set("x: 'y'")
    settings["root.Dev.Arr"].var.set(np.array([1, -2, 3, -4], np.int32))
    text = configfile.render(
        (p, configfile.yaml_value(s.var.getVariableValue(read=False))) for p, s in settings.items()
    )
    fresh = make_root()
    try:
        outcome = apply_data(settings_of(fresh.variableList), configfile.parse(text), "test")
        assert outcome.skipped == []
        for path, setting in settings.items():
            fresh_var = fresh.getNode(path)
            assert np.array_equal(fresh_var.get(read=False), setting.var.get(read=False)), path
    finally:
        fresh.stop()
