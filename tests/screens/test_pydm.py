"""The PyDM screens, opened in a real window (Xvfb) against the running simulator IOC.

Each test loads a generated `.ui` file the way `pydm FILE` does, waits until every channel of
every widget is connected, checks that each widget shows what a CA get of its PV returns,
writes through a PyDM entry, and saves a screenshot (its path is printed in the test log).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from integration.support import wait_for

from .conftest import Served, caget, epics

CONNECT_TIMEOUT = 30.0
MATCH_TIMEOUT = 15.0
#: PyDM's default stylesheet draws a MINOR alarm's border in this colour (#EBEB00).
MINOR_BORDER = (0xEB, 0xEB, 0x00)


@pytest.fixture(scope="module")
def app(display: str, served: Served) -> Any:
    """PyDM showing the top screen, as `pydm index.ui` does (one application per process)."""
    from pydm import PyDMApplication

    application = PyDMApplication(
        ui_file=str(served.screens / "index.ui"),
        hide_nav_bar=True,
        hide_menu_bar=True,
        hide_status_bar=True,
    )
    application.main_window.resize(760, 900)
    return application


def current(app: Any) -> Any:
    """The display the PyDM window shows now."""
    return app.main_window.display_widget()


def go_to(app: Any, stem: str) -> Any:
    """Click the related-display button of the current screen that opens `stem`.ui."""
    from pydm.widgets import PyDMRelatedDisplayButton
    from qtpy.QtCore import Qt
    from qtpy.QtTest import QTest

    target = f"{stem}.ui"
    if Path(current(app).loaded_file()).name == target:
        return current(app)
    buttons = [
        b for b in current(app).findChildren(PyDMRelatedDisplayButton) if b.filenames == [target]
    ]
    assert buttons, f"no button to {target} on {current(app).loaded_file()}"
    QTest.mouseClick(buttons[0], Qt.LeftButton)
    return settle(
        app,
        lambda: Path(current(app).loaded_file()).name == target and current(app),
        CONNECT_TIMEOUT,
        f"the window to show {target}",
    )


def settle(app: Any, until: Callable[[], Any], timeout: float, what: str) -> Any:
    """Run the Qt event loop until `until()` is true (bounded)."""

    def check() -> Any:
        app.processEvents()
        return until()

    return wait_for(check, timeout, what)


def pv_widgets(screen: Any) -> list[Any]:
    """Every PyDM widget on `screen` that has a channel."""
    from pydm.widgets.base import PyDMPrimitiveWidget

    return [
        w
        for w in screen.findChildren(PyDMPrimitiveWidget)
        if any(c.address for c in (w.channels() or []) if c is not None)
    ]


def addresses(widget: Any) -> list[str]:
    return [c.address for c in widget.channels() if c is not None and c.address]


def connected(channel: Any) -> bool:
    """True when PyDM's data plugin reports `channel` connected."""
    from pydm.data_plugins import plugin_for_address

    plugin = plugin_for_address(channel.address)
    connection = plugin.connections.get(plugin.get_connection_id(channel))
    return bool(connection and connection.connected)


def wait_connected(app: Any, screen: Any) -> list[Any]:
    """Wait until every channel of every PyDM widget on `screen` is connected."""
    widgets = pv_widgets(screen)
    assert widgets, "the screen has no PV widgets"
    channels = [c for w in widgets for c in w.channels() if c is not None and c.address]
    in_file = set(re.findall(r"ca://[^\"<]+", Path(screen.loaded_file()).read_text()))
    assert {c.address for c in channels} == in_file, "widgets without their channel"
    settle(
        app,
        lambda: all(connected(c) for c in channels),
        CONNECT_TIMEOUT,
        f"all {len(channels)} channels to connect",
    )
    return widgets


def pv_of(address: str) -> str:
    return address.removeprefix("ca://")


def shown(widget: Any) -> Any:
    """What the widget shows, comparable with `expected`."""
    from pydm.widgets import (
        PyDMByteIndicator,
        PyDMCheckbox,
        PyDMEnumComboBox,
        PyDMLabel,
        PyDMLineEdit,
        PyDMWaveformPlot,
    )

    if isinstance(widget, PyDMWaveformPlot):
        return [curve.latest_y for curve in widget._curves]
    if isinstance(widget, PyDMEnumComboBox):
        return widget.currentText()
    if isinstance(widget, PyDMCheckbox):
        return widget.isChecked()
    if isinstance(widget, PyDMByteIndicator):
        return widget.value
    if isinstance(widget, PyDMLabel | PyDMLineEdit):
        text = widget.text()
        units = getattr(widget, "_unit", "") or ""
        return text.removesuffix(units).strip() if units else text.strip()
    return None  # buttons: only the connection matters


def matches(widget: Any) -> bool:
    """True when the widget shows what a CA get of its PV returns now."""
    value = shown(widget)
    if value is None:
        return True
    pv = pv_of(addresses(widget)[0])
    if isinstance(value, list):
        return all(y is not None and np.allclose(y, caget(pv)) for y in value)
    if isinstance(value, bool):
        return value == bool(caget(pv))
    if not isinstance(value, str):
        return value == caget(pv)
    expected = caget(pv, as_string=True)
    if value == expected:
        return True
    if value.startswith("["):  # a numeric array in an entry: "[1. 2. 3.]"
        numbers = np.array(value.strip("[]").split(), dtype=float)
        return bool(np.array_equal(numbers, caget(pv)))
    try:  # the same number, formatted by PyDM and pyepics with the PV's precision
        return math.isclose(float(value), float(expected), rel_tol=1e-9, abs_tol=1e-9)
    except ValueError:
        return False


def check_values(app: Any, widgets: list[Any]) -> None:
    """Every widget shows its PV's value (retried: some PVs move every second)."""
    for widget in widgets:
        settle(
            app,
            lambda w=widget: matches(w),
            MATCH_TIMEOUT,
            f"{type(widget).__name__} on {addresses(widget)} to show the CA value "
            f"(shows {shown(widget)!r})",
        )


def screenshot(app: Any, served: Served, name: str) -> Path:
    """Save the PyDM window as `<name>.png` next to the IOC's log; print its path."""
    app.processEvents()
    path = served.artifacts / f"{name}.png"
    assert app.main_window.grab().save(str(path)), f"could not save {path}"
    print(f"screenshot: {path}")
    return path


def test_top_screen(app: Any, served: Served) -> None:
    from pydm.widgets import PyDMRelatedDisplayButton

    screen = current(app)
    assert Path(screen.loaded_file()).name == "index.ui"
    widgets = wait_connected(app, screen)
    check_values(app, widgets)
    targets = {f for b in screen.findChildren(PyDMRelatedDisplayButton) for f in b.filenames}
    device_screens = {p.name for p in served.screens.glob("root*.ui") if ".page" not in p.name}
    assert device_screens <= targets, "the device tree misses Device screens"
    assert screenshot(app, served, "pydm-top").stat().st_size > 0


def entry_for(widgets: list[Any], pv: str) -> Any:
    from pydm.widgets import PyDMLineEdit

    entries = [w for w in widgets if isinstance(w, PyDMLineEdit) and addresses(w) == [f"ca://{pv}"]]
    assert entries, f"no entry for {pv}"
    return entries[0]


def test_device_screen_shows_values_and_writes_the_tree(app: Any, served: Served) -> None:
    screen = go_to(app, "root-Types")
    widgets = wait_connected(app, screen)
    assert len(widgets) >= 20
    check_values(app, widgets)

    # A put from a PyDM entry reaches the tree: LocalInt's setter mirrors it into RoInt (RO).
    local_int = f"{served.prefix}:root:Types:LocalInt"
    entry = entry_for(widgets, local_int)
    value = int(time.time()) % 100000 + 7
    entry.setText(str(value))
    entry.send_value()
    mirror = f"{served.prefix}:root:Types:RoInt"
    settle(app, lambda: caget(mirror) == value, MATCH_TIMEOUT, f"{mirror} == {value}")
    assert caget(local_int) == value

    # Long strings (char waveforms) are shown and written as text, past CA's 40 characters.
    local_str = f"{served.prefix}:root:Types:LocalStr"
    entry = entry_for(widgets, local_str)
    text = "written by PyDM, longer than the forty characters of a CA string"
    entry.setText(text)
    entry.send_value()
    settle(app, lambda: caget(local_str, as_string=True) == text, MATCH_TIMEOUT, "the text")
    check_values(app, widgets)
    assert screenshot(app, served, "pydm-types").stat().st_size > 0


def test_alarm_shows_as_a_border(app: Any, served: Served) -> None:
    """A Variable in alarm draws its widget's border in the severity colour (MINOR: yellow)."""
    from pydm.widgets import PyDMLabel

    go_to(app, "index")
    screen = go_to(app, "root-Thermal")
    widgets = wait_connected(app, screen)
    temperature = next(w for w in widgets if isinstance(w, PyDMLabel))
    assert addresses(temperature) == [f"ca://{served.prefix}:root:Thermal:Temperature"]
    heater = f"{served.prefix}:root:Thermal:Heater"
    # Temperature follows 25 + Heater (within 2): 25 + 41 is above the high warning (60).
    assert epics.caput(heater, 41.0, wait=True, timeout=5.0) == 1
    try:
        settle(app, lambda: temperature.alarmSeverity == 1, MATCH_TIMEOUT, "a MINOR alarm")
        settle(app, lambda: has_colour(temperature, MINOR_BORDER), MATCH_TIMEOUT, "a yellow border")
        assert screenshot(app, served, "pydm-thermal-alarm").stat().st_size > 0
    finally:
        epics.caput(heater, 0.0, wait=True, timeout=5.0)
    settle(app, lambda: temperature.alarmSeverity == 0, MATCH_TIMEOUT, "the alarm to end")
    assert not has_colour(temperature, MINOR_BORDER)


def has_colour(widget: Any, rgb: tuple[int, int, int]) -> bool:
    """True when some pixel of the drawn widget has colour `rgb`."""
    image = widget.grab().toImage()
    return any(
        image.pixelColor(x, y).getRgb()[:3] == rgb
        for x in range(image.width())
        for y in range(image.height())
    )
