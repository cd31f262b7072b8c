"""docs/simulator.md's supported-API table is true of sim.tree, both ways."""

import inspect
import re
from pathlib import Path

import pytest

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
