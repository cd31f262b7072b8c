"""The Phoebus screens, checked by parsing them against the running IOC.

Every PV a `.bob` file names is served, every served PV is on some screen, each widget fits the
record behind its PV (the record type comes from the IOC itself, `<PV>.RTYP` over CA), and
every button that opens a screen opens one that exists.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

from .conftest import Served, caget

PROTOCOL = "pva://"
PV_ELEMENTS = ("pv_name", "y_pv", "x_pv")

#: The Phoebus widget types that may show a record of each type.
WIDGETS_FOR_RECORD = {
    "ai": {"textupdate"},
    "longin": {"textupdate"},
    "int64in": {"textupdate"},
    "lsi": {"textupdate"},
    "stringin": {"textupdate"},
    "mbbi": {"textupdate"},
    "bi": {"led"},
    "ao": {"textentry"},
    "longout": {"textentry", "action_button"},  # a command without argument is a button
    "int64out": {"textentry"},
    "lso": {"textentry"},
    "stringout": {"textentry"},
    "mbbo": {"combo"},
    "bo": {"slide_button", "action_button"},  # a command with a Bool argument: two buttons
    "waveform": {"xyplot", "textentry"},  # an Out waveform also has an entry
    "waveform CHAR": {"textupdate", "textentry"},  # softioc's long strings
}
#: Widgets that write their PV; they must only name Out records.
WRITING = {"textentry", "combo", "slide_button", "action_button"}
OUT_RECORDS = {"ao", "longout", "int64out", "lso", "stringout", "mbbo", "bo"}


def bob_files(served: Served) -> list[Path]:
    files = sorted(served.screens.glob("*.bob"))
    assert files, f"no .bob files in {served.screens}"
    return files


def named_pvs(served: Served) -> dict[str, set[str]]:
    """{PV: widget types naming it} over every `.bob` file."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in bob_files(served):
        for widget in ET.parse(path).getroot().iter("widget"):
            for element in widget.iter():
                if element.tag in PV_ELEMENTS and element.text and element.text.strip():
                    text = element.text.strip()
                    assert text.startswith(PROTOCOL), f"{path.name}: PV {text!r} without pva://"
                    found[text.removeprefix(PROTOCOL)].add(widget.get("type"))
    return found


def test_every_named_pv_is_served(served: Served) -> None:
    unknown = sorted(set(named_pvs(served)) - served.pvs)
    assert not unknown, f"screens name PVs the IOC does not serve: {unknown}"


def test_every_served_pv_is_on_a_screen(served: Served) -> None:
    missing = sorted(served.pvs - set(named_pvs(served)))
    assert not missing, f"served PVs on no screen: {missing}"


def test_widget_types_match_record_types(served: Served) -> None:
    wrong = []
    for pv, widgets in sorted(named_pvs(served).items()):
        record = record_type(pv)
        allowed = WIDGETS_FOR_RECORD.get(record)
        assert allowed is not None, f"{pv}: record type {record} has no expected widget"
        if not widgets <= allowed:
            wrong.append(f"{pv} ({record}): {sorted(widgets - allowed)}")
        if widgets & WRITING and record not in OUT_RECORDS and not record.startswith("waveform"):
            wrong.append(f"{pv} ({record}, read-only) has writing widgets {sorted(widgets)}")
    assert not wrong, "widgets that do not fit their record: " + "; ".join(wrong)


def record_type(pv: str) -> str:
    """The record type behind `pv`; 'waveform CHAR' for a long string."""
    record = caget(f"{pv}.RTYP", as_string=True)
    if record == "waveform" and caget(f"{pv}.FTVL", as_string=True) == "CHAR":
        return "waveform CHAR"
    return record


def test_every_record_type_is_on_the_screens(served: Served) -> None:
    """The simulator serves every record type the IOC makes; each is on some screen."""
    types = {record_type(pv) for pv in named_pvs(served)}
    expected = {"ai", "ao", "longin", "longout", "int64in", "int64out", "mbbo", "bo"}
    assert expected | {"waveform", "waveform CHAR"} <= types


def test_text_widgets_keep_units_and_alarm_borders(served: Served) -> None:
    """Phoebus shows units and alarm-sensitive borders unless a file turns them off."""
    for path in bob_files(served):
        for widget in ET.parse(path).getroot().iter("widget"):
            for name in ("show_units", "border_alarm_sensitive"):
                assert widget.findtext(name, "true") == "true", f"{path.name}: {name} off"


def test_combo_boxes_take_their_items_from_the_pv(served: Served) -> None:
    combos = [
        widget
        for path in bob_files(served)
        for widget in ET.parse(path).getroot().iter("widget")
        if widget.get("type") == "combo"
    ]
    assert combos
    for combo in combos:
        assert combo.find("items") is None and combo.findtext("items_from_pv", "true") == "true"


def test_every_open_display_button_opens_an_existing_screen(served: Served) -> None:
    opened = 0
    for path in bob_files(served):
        for action in ET.parse(path).getroot().iter("action"):
            if action.get("type") == "open_display":
                target = action.findtext("file")
                assert target and (path.parent / target).is_file(), f"{path.name} -> {target}"
                opened += 1
    assert opened > 0


def test_top_screen_links_every_device_screen(served: Served) -> None:
    """The top screen is the device tree: one button per Device screen."""
    top = ET.parse(served.screens / "index.bob").getroot()
    targets = {a.findtext("file") for a in top.iter("action") if a.get("type") == "open_display"}
    device_screens = {p.name for p in served.screens.glob("root*.bob")}
    plots_and_pages = {n for n in device_screens if "_" in n.split("-")[-1] or ".page" in n}
    assert device_screens - plots_and_pages <= targets
