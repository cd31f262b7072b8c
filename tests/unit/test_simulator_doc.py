"""docs/simulator.md's supported-API table is true of sim.tree, both ways."""

import inspect
import re
from pathlib import Path

import pytest

import sim
import sim.tree

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"
ROW = re.compile(r"^\| `(?P<construct>[^`]+)` \| (?P<status>[a-z ]+) \|(?P<notes>.*)\|$")
CONSTRUCT = re.compile(r"^(?P<dotted>[A-Za-z_][\w.]*)(?:\((?P<keywords>[^)]*)\))?$")
STATUSES = {"supported", "differs", "not supported"}


def table() -> list[tuple[str, str, list[str], str]]:
    """(dotted name, status, keywords, notes) of every table row."""
    rows = []
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            construct = CONSTRUCT.match(match["construct"])
            assert construct, f"unparsable construct {match['construct']!r}"
            keywords = [k.strip() for k in (construct["keywords"] or "").split(",") if k.strip()]
            notes = match["notes"].strip()
            rows.append((construct["dotted"], match["status"], keywords, notes))
    return rows


ROWS = table()


def resolve(dotted: str) -> object:
    """The object `dotted` names in sim.tree; AttributeError when there is none.

    Members of a Device or Root that are nodes (enable, ReadAll, ...) are looked up on an
    instance.
    """
    first, *rest = dotted.split(".")
    obj = getattr(sim.tree, first)
    if rest and inspect.isclass(obj) and issubclass(obj, sim.tree.Device):
        obj = obj(name="doc")
    for part in rest:
        obj = getattr(obj, part)
    return obj


def also_named(notes: str) -> list[str]:
    """The `names` a row's notes list after 'also'."""
    return re.findall(r"`(\w+)`", notes.split("also ", 1)[1]) if "also " in notes else []


def accepted_keywords(cls: type) -> set[str]:
    """Named keywords of the constructors along `cls`'s MRO."""
    names: set[str] = set()
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get("__init__")
        if init is not None:
            names.update(inspect.signature(init).parameters)
    return names


def test_the_table_has_rows_with_known_statuses():
    assert len(ROWS) > 50
    assert {status for _, status, _, _ in ROWS} <= STATUSES


@pytest.mark.parametrize(("dotted", "status", "keywords", "notes"), ROWS, ids=[r[0] for r in ROWS])
def test_each_row_is_true(dotted, status, keywords, notes):
    if status == "not supported":
        with pytest.raises(AttributeError):
            resolve(dotted)
        return
    obj = resolve(dotted)
    if keywords:
        missing = set(keywords) - accepted_keywords(obj)
        assert not missing, f"{dotted} does not take {sorted(missing)}"
    if status == "differs":
        assert notes.strip(), f"{dotted} differs but the table does not say how"


def test_every_exported_name_is_in_the_table():
    listed = {dotted.split(".")[0] for dotted, *_ in ROWS}
    listed |= {
        name
        for _, status, _, notes in ROWS
        if status != "not supported"
        for name in also_named(notes)
    }
    assert set(sim.tree.__all__) - listed == set()


def test_also_named_members_exist():
    """Names after 'also' in the notes of supported rows exist on the row's class."""
    for dotted, status, _, notes in ROWS:
        if status == "not supported":
            continue
        owner = resolve(dotted.rsplit(".", 1)[0]) if "." in dotted else sim.tree
        if inspect.isclass(owner) and issubclass(owner, sim.tree.Device):
            owner = owner(name="doc")
        for name in also_named(notes):
            assert hasattr(owner, name) or hasattr(sim.tree, name), f"{dotted}: {name}"


# --- docs/sim-device.md: the table of every node, generated from sim.device.SimRoot ------------

DEVICE_DOC = DOC.with_name("sim-device.md")
TABLE_START = (
    "<!-- tree table: generated from SimRoot; `python tests/unit/test_simulator_doc.py` -->"
)
TABLE_END = "<!-- end of tree table -->"
#: pyrogue's own nodes (docs/simulator.md): every Device's and the Root's standard ones.
DEVICE_STANDARD = {"enable", "ReadDevice", "WriteDevice"}
#: Values that change by themselves besides the polled ones: the Root sets Time every second.
MOVING = {"root.Time"}
LIMITS = ("minimum", "maximum", "lowAlarm", "lowWarning", "highWarning", "highAlarm")


def device_nodes(root: sim.tree.Root) -> list[sim.tree.BaseVariable]:
    """The simulated device's own Variables and Commands, in tree order (pyrogue's left out)."""
    standard = set(sim.tree.Root(name="bare").nodes) - {"Time"}
    return [
        var
        for var in root.variableList
        if var.name not in DEVICE_STANDARD
        and not (var.parent is root and var.name in standard)
        and var.path.split(".")[1] not in standard
    ]


def _attributes(var: sim.tree.BaseVariable) -> str:
    """What sets the node apart: units, display, limits, enum, polling, groups, argument."""
    parts = []
    if isinstance(var, sim.tree.RemoteVariable):
        parts.append(f"offset {var.offset:#x}, bitSize {var.bitSize[0]}")
        if var.bitOffset[0]:
            parts.append(f"bitOffset {var.bitOffset[0]}")
        if var.numValues:
            parts.append(f"numValues {var.numValues}")
    if var.units:
        parts.append(f"units `{var.units}`")
    if var.disp not in ("{}", "enum"):
        parts.append(f"disp `{var.disp!r}`")
    parts += [f"{name} {getattr(var, name)!r}" for name in LIMITS if getattr(var, name) is not None]
    if var.enum and var.typeStr not in ("bool", "Bool"):
        labels = [f"{key}: {label}" for key, label in var.enum.items()]
        shown = labels if len(labels) <= 4 else [*labels[:2], "…", labels[-1]]
        parts.append(f"enum of {len(labels)}: " + ", ".join(shown))
    if var.pollInterval:
        parts.append(f"pollInterval {var.pollInterval}")
    if var.hidden:
        parts.append("hidden")
    if var.groups:
        parts.append("groups " + " ".join(var.groups))
    if var.isCommand:
        parts.append("takes an argument" if var.arg else "no argument")
    return ", ".join(parts)


def tree_table(root: sim.tree.Root) -> str:
    """The Markdown table of `device_nodes`: path, kind, mode, typeStr, initial display, more."""
    lines = ["| path | kind | mode | typeStr | initial | attributes |", "|---|---|---|---|---|---|"]
    for var in device_nodes(root):
        kind = (
            "Command"
            if var.isCommand
            else "RemoteVariable"
            if isinstance(var, sim.tree.RemoteVariable)
            else "LocalVariable"
        )
        initial = (
            "(moving)"
            if var.pollInterval or var.path in MOVING
            else f"`{' '.join(var.getVariableValue(read=False).valueDisp.split())}`"
        )
        initial = initial.replace("``", "`''`")
        path = var.path.removeprefix("root.")
        row = (path, kind, var.mode, f"`{var.typeStr}`", initial, _attributes(var))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def documented_table() -> tuple[str, str, str]:
    """docs/sim-device.md split around its generated table: (before, table, after)."""
    text = DEVICE_DOC.read_text()
    before, rest = text.split(TABLE_START + "\n", 1)
    table, after = rest.split(TABLE_END, 1)
    return before, table.removesuffix("\n"), after


def test_the_device_doc_lists_exactly_the_tree():
    with sim.SimRoot(pollEn=False) as root:
        expected = tree_table(root)
    assert documented_table()[1] == expected, (
        "docs/sim-device.md is stale: run `python tests/unit/test_simulator_doc.py`"
    )


if __name__ == "__main__":
    before, _, after = documented_table()
    with sim.SimRoot(pollEn=False) as root:
        table = tree_table(root)
    DEVICE_DOC.write_text(f"{before}{TABLE_START}\n{table}\n{TABLE_END}{after}")
    print(f"{DEVICE_DOC}: table of {table.count(chr(10)) - 1} nodes written")
