"""PyDM screens: one Qt Designer `.ui` file per screen of the model, opened with `pydm FILE`.

Every PV row is a label (the Variable's name, its description as tooltip) and a PyDM widget on
`ca://<PV>`; numbers show their units and every widget has an alarm-sensitive border. Long rows
scroll; child Devices, further pages, the parent and the top screen are related-display buttons.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from .model import TOP, Item, Screen, ScreenSet, Widget

SUFFIX = ".ui"

#: PyDM classes used, with the Qt class each extends and the module that defines it.
CUSTOM_WIDGETS = {
    "PyDMLabel": ("QLabel", "pydm.widgets.label"),
    "PyDMLineEdit": ("QLineEdit", "pydm.widgets.line_edit"),
    "PyDMEnumComboBox": ("QComboBox", "pydm.widgets.enum_combo_box"),
    "PyDMCheckbox": ("QCheckBox", "pydm.widgets.checkbox"),
    "PyDMByteIndicator": ("QWidget", "pydm.widgets.byte"),
    "PyDMPushButton": ("QPushButton", "pydm.widgets.pushbutton"),
    "PyDMWaveformPlot": ("QGraphicsView", "pydm.widgets.waveformplot"),
    "PyDMRelatedDisplayButton": ("QPushButton", "pydm.widgets.related_display_button"),
}

#: PyDM class of the main widget of each kind of row.
WIDGET_CLASSES = {
    Widget.LED: "PyDMByteIndicator",
    Widget.TOGGLE: "PyDMCheckbox",
    Widget.COMBO: "PyDMEnumComboBox",
    Widget.READBACK: "PyDMLabel",
    Widget.ENTRY: "PyDMLineEdit",
    Widget.BUTTON: "PyDMPushButton",
    Widget.ARG_ENTRY: "PyDMLineEdit",
    Widget.ARG_TOGGLE: "PyDMPushButton",
    Widget.ARG_COMBO: "PyDMEnumComboBox",
    Widget.PLOT: "PyDMWaveformPlot",
    Widget.PLOT_ENTRY: "PyDMWaveformPlot",
}

PLOT_HEIGHT = 180


def channel(item: Item) -> str:
    """The PyDM channel address of an item's PV (Channel Access)."""
    return f"ca://{item.pv}"


class _Ui:
    """Builds one `.ui` document; hands out unique object names."""

    def __init__(self, title: str) -> None:
        self.count = 0
        self.used: set[str] = set()
        self.root = ET.Element("ui", version="4.0")
        ET.SubElement(self.root, "class").text = "Form"
        self.form = self.widget(self.root, "QWidget", name="Form")
        geometry = ET.SubElement(ET.SubElement(self.form, "property", name="geometry"), "rect")
        for tag, value in (("x", 0), ("y", 0), ("width", 640), ("height", 720)):
            ET.SubElement(geometry, tag).text = str(value)
        self.prop(self.form, "windowTitle", title)

    def widget(self, parent: ET.Element, cls: str, name: str | None = None) -> ET.Element:
        if cls in CUSTOM_WIDGETS:
            self.used.add(cls)
        self.count += 1
        return ET.SubElement(parent, "widget", {"class": cls, "name": name or f"w{self.count}"})

    def layout(self, parent: ET.Element, cls: str) -> ET.Element:
        self.count += 1
        return ET.SubElement(parent, "layout", {"class": cls, "name": f"l{self.count}"})

    @staticmethod
    def prop(element: ET.Element, name: str, value: object, stdset: bool = True) -> None:
        attrs = {"name": name} if stdset else {"name": name, "stdset": "0"}
        node = ET.SubElement(element, "property", attrs)
        if isinstance(value, bool):
            ET.SubElement(node, "bool").text = "true" if value else "false"
        elif isinstance(value, int):
            ET.SubElement(node, "number").text = str(value)
        elif isinstance(value, list):
            strings = ET.SubElement(node, "stringlist")
            for text in value:
                ET.SubElement(strings, "string").text = text
        else:
            ET.SubElement(node, "string").text = str(value)

    def text(self) -> str:
        custom = ET.SubElement(self.root, "customwidgets")
        for cls in sorted(self.used):
            extends, header = CUSTOM_WIDGETS[cls]
            node = ET.SubElement(custom, "customwidget")
            ET.SubElement(node, "class").text = cls
            ET.SubElement(node, "extends").text = extends
            ET.SubElement(node, "header").text = header
        ET.indent(self.root)
        return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(self.root, "unicode") + "\n"


def _cell(grid: ET.Element, row: int, column: int, span: int = 1) -> ET.Element:
    attrs = {"row": str(row), "column": str(column)}
    if span > 1:
        attrs["colspan"] = str(span)
    return ET.SubElement(grid, "item", attrs)


def _size(element: ET.Element, name: str, width: int, height: int) -> None:
    size = ET.SubElement(ET.SubElement(element, "property", name=name), "size")
    ET.SubElement(size, "width").text = str(width)
    ET.SubElement(size, "height").text = str(height)


def _spacer(
    parent: ET.Element, name: str, orientation: str, width: int, height: int, fixed: bool = False
) -> None:
    spacer = ET.SubElement(parent, "spacer", name=name)
    _enum(spacer, "orientation", f"Qt::{orientation}")
    if fixed:
        _enum(spacer, "sizeType", "QSizePolicy::Fixed")
    _size(spacer, "sizeHint", width, height)


def _ignored_width(element: ET.Element) -> None:
    policy = ET.SubElement(
        ET.SubElement(element, "property", name="sizePolicy"),
        "sizepolicy",
        hsizetype="Ignored",
        vsizetype="Preferred",
    )
    ET.SubElement(policy, "horstretch").text = "0"
    ET.SubElement(policy, "verstretch").text = "0"


def _enum(element: ET.Element, name: str, value: str, stdset: bool = True) -> None:
    attrs = {"name": name} if stdset else {"name": name, "stdset": "0"}
    ET.SubElement(ET.SubElement(element, "property", attrs), "enum").text = value


def _label(ui: _Ui, parent: ET.Element, text: str, tooltip: str = "", bold: bool = False) -> None:
    label = ui.widget(parent, "QLabel")
    ui.prop(label, "text", f"<b>{_html(text)}</b>" if bold else text)
    if tooltip:
        ui.prop(label, "toolTip", tooltip)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(ui: _Ui, parent: ET.Element, text: str, stem: str, tooltip: str = "") -> None:
    button = ui.widget(parent, "PyDMRelatedDisplayButton")
    ui.prop(button, "text", text)
    ui.prop(button, "filenames", [stem + SUFFIX], stdset=False)
    ui.prop(button, "openInNewWindow", False, stdset=False)
    if tooltip:
        ui.prop(button, "toolTip", tooltip)


def _pv_widget(ui: _Ui, parent: ET.Element, item: Item) -> None:
    """The PyDM widget of one item, bound to its PV."""
    cls = WIDGET_CLASSES[item.widget]
    if item.widget is Widget.ARG_TOGGLE:
        # A Bool argument: one button per value, each runs the command with it.
        box = ui.widget(parent, "QWidget")
        row = ui.layout(box, "QHBoxLayout")
        for value, text in ((0, "False"), (1, "True")):
            button = ui.widget(ET.SubElement(row, "item"), cls)
            _bind(ui, button, item)
            ui.prop(button, "text", f"{item.label}({text})")
            ui.prop(button, "pressValue", str(value), stdset=False)
        return
    widget = ui.widget(parent, cls)
    if item.widget in (Widget.PLOT, Widget.PLOT_ENTRY):
        curve = {
            "name": item.label,
            "y_channel": channel(item),
            "x_channel": None,
            "color": "#1f77b4",
        }
        ui.prop(widget, "curves", [json.dumps(curve)], stdset=False)
        _size(widget, "minimumSize", 300, PLOT_HEIGHT)
        return
    _bind(ui, widget, item)
    if item.widget is Widget.BUTTON:
        ui.prop(widget, "text", f"Run {item.label}")
        ui.prop(widget, "pressValue", "1", stdset=False)
    elif item.widget in (Widget.READBACK, Widget.ENTRY, Widget.ARG_ENTRY):
        ui.prop(widget, "showUnits", True, stdset=False)
        if item.kind.startswith("lsi/lso"):
            # softioc's long strings are char waveforms: show and write them as text.
            _enum(widget, "displayFormat", f"{cls}::String", stdset=False)
        if item.widget is Widget.READBACK:
            # Long text (logs, lists) is cut at the window's edge instead of widening the screen.
            _ignored_width(widget)
        if item.widget is Widget.ARG_ENTRY:
            ui.prop(widget, "placeholderText", "argument, Enter runs")
    elif item.widget is Widget.LED:
        ui.prop(widget, "numBits", 1, stdset=False)
        ui.prop(widget, "showLabels", False, stdset=False)
    elif item.widget is Widget.TOGGLE:
        ui.prop(widget, "text", "")


def _bind(ui: _Ui, widget: ET.Element, item: Item) -> None:
    ui.prop(widget, "channel", channel(item), stdset=False)
    ui.prop(widget, "alarmSensitiveBorder", True, stdset=False)
    ui.prop(widget, "toolTip", f"{item.pv}\n{item.description}".strip())


def _rows(ui: _Ui, grid: ET.Element, items: list[Item], row: int) -> int:
    """PV rows (label, widget) from `row` on; returns the next free row."""
    for item in items:
        _label(ui, _cell(grid, row, 0), item.label, f"{item.pv}\n{item.description}".strip())
        if item.widget is Widget.PLOT_ENTRY:
            _pv_widget(ui, _cell(grid, row, 1), item)
            row += 1
            entry = Item(item.pv, item.label, Widget.ENTRY, item.kind, item.description)
            _pv_widget(ui, _cell(grid, row, 1), entry)
        else:
            _pv_widget(ui, _cell(grid, row, 1), item)
        row += 1
    return row


def render(screen: Screen, screens: ScreenSet) -> str:
    """The `.ui` text of one screen."""
    ui = _Ui(screen.title)
    outer = ui.layout(ui.form, "QVBoxLayout")
    _label(ui, ET.SubElement(outer, "item"), screen.title, screen.path, bold=True)
    if screen.stem != TOP:
        nav = ui.layout(ET.SubElement(outer, "item"), "QHBoxLayout")
        _link(ui, ET.SubElement(nav, "item"), "Top", TOP, "the device tree")
        if screen.parent and screen.parent != TOP:
            _link(ui, ET.SubElement(nav, "item"), "Up", screen.parent, screen.parent)
    scroll = ui.widget(ET.SubElement(outer, "item"), "QScrollArea")
    ui.prop(scroll, "widgetResizable", True)
    body = ui.widget(scroll, "QWidget")
    grid = ui.layout(body, "QGridLayout")
    row = _rows(ui, grid, screen.items, 0)
    for stem in screen.pages:
        _link(ui, _cell(grid, row, 0, 2), screens.screens[stem].link, stem)
        row += 1
    if screen.stem == TOP:
        _label(ui, _cell(grid, row, 0, 2), "Devices", bold=True)
        row += 1
        for depth, stem in screens.tree:
            target = screens.screens[stem]
            cell = _cell(grid, row, 0, 2)
            box = ui.layout(cell, "QHBoxLayout")
            _spacer(ET.SubElement(box, "item"), f"indent{row}", "Horizontal", 24 * depth, 1, True)
            _link(ui, ET.SubElement(box, "item"), target.link, stem, target.path)
            _spacer(ET.SubElement(box, "item"), f"fill{row}", "Horizontal", 1, 1)
            row += 1
    elif screen.children:
        _label(ui, _cell(grid, row, 0, 2), "Devices", bold=True)
        row += 1
        for stem in screen.children:
            child = screens.screens[stem]
            _link(ui, _cell(grid, row, 0, 2), child.link, stem, child.path)
            row += 1
    _spacer(_cell(grid, row, 0), "vspace", "Vertical", 1, 1)
    return ui.text()


def write(screens: ScreenSet, out: Path) -> list[Path]:
    """Write every screen of `screens` into `out`; returns the files written."""
    written = []
    for screen in _all(screens):
        path = out / f"{screen.stem}{SUFFIX}"
        path.write_text(render(screen, screens))
        written.append(path)
    return written


def _all(screens: ScreenSet) -> Iterator[Screen]:
    yield screens.top
    yield from screens.screens.values()
