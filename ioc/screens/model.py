"""The screen model: which screens exist and which widget shows each served PV.

Built from the server's own selection, naming and type mapping (`ioc.selection`, `ioc.kinds`),
so the screens name exactly the PVs the IOC serves, with widgets that fit each record's kind.
Both writers (`bob`, `pydm_ui`) lay out this model; neither decides anything about PVs.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from .. import configpvs
from ..kinds import resolve
from ..selection import ioc_pvs, select, served_names, writable
from ..tree import Root, Variable, takes_argument

PAGE_ROWS = 40
"""At most this many PV rows on one screen; a Device with more gets numbered pages."""

TOP = "index"
"""File stem of the top screen (the device tree)."""


class Widget(enum.Enum):
    """How one PV is shown, by its record kind and whether clients may write it."""

    LED = "led"  # bi: read-only Bool
    TOGGLE = "toggle"  # bo: writable Bool
    COMBO = "combo"  # mbbo: writable enum
    READBACK = "readback"  # any read-only scalar or text
    ENTRY = "entry"  # writable number or text
    BUTTON = "button"  # command without an argument
    ARG_ENTRY = "arg_entry"  # command with an argument: entering the value runs it
    ARG_TOGGLE = "arg_toggle"  # command with a Bool argument
    ARG_COMBO = "arg_combo"  # command with an enum argument
    PLOT = "plot"  # read-only waveform
    PLOT_ENTRY = "plot_entry"  # writable waveform: plot plus an entry for the whole array


@dataclass(frozen=True)
class Item:
    """One served PV on a screen."""

    pv: str
    label: str
    widget: Widget
    kind: str
    description: str = ""
    units: str = ""
    choices: tuple[str, ...] = ()


@dataclass
class Screen:
    """One screen: a Device's own PVs (or one page of them) and links to its child Devices."""

    stem: str
    title: str
    path: str
    items: list[Item] = field(default_factory=list)
    children: list[str] = field(default_factory=list)  # stems of child Device screens
    pages: list[str] = field(default_factory=list)  # stems of this Device's further pages
    parent: str | None = None  # stem of the screen one level up
    link: str = ""  # text of the buttons that open this screen

    def __post_init__(self) -> None:
        self.link = self.link or self.path.rpartition(".")[2]


@dataclass
class ScreenSet:
    """Every screen of one tree: the top screen (device tree) plus one per Device."""

    top: Screen
    screens: dict[str, Screen]  # stem → screen, Devices in tree order, pages after their Device
    tree: list[tuple[int, str]]  # (depth, stem) of every Device screen, depth-first

    def all_pvs(self) -> set[str]:
        """Every PV named on some screen."""
        return {item.pv for s in (self.top, *self.screens.values()) for item in s.items}


def widget_for(kind: str, is_command: bool, has_arg: bool, out: bool) -> Widget:
    """The widget for a record of `kind` (see `ioc.kinds`), a command or not, In or Out."""
    if is_command:
        if not has_arg:
            return Widget.BUTTON
        return {"bi/bo": Widget.ARG_TOGGLE, "mbbi/mbbo": Widget.ARG_COMBO}.get(
            kind, Widget.ARG_ENTRY
        )
    if kind.startswith("waveform"):
        return Widget.PLOT_ENTRY if out else Widget.PLOT
    if kind == "bi/bo":
        return Widget.TOGGLE if out else Widget.LED
    if kind == "mbbi/mbbo" and out:
        return Widget.COMBO
    return Widget.ENTRY if out else Widget.READBACK


def item_for(var: Variable, pv: str) -> Item:
    """The screen item of one served variable."""
    mapping = resolve(var)
    out = writable(var, mapping.writable)
    is_command = var.isCommand
    enum_labels = var.enum or {}
    return Item(
        pv=pv,
        label=var.name,
        widget=widget_for(mapping.kind, is_command, takes_argument(var), out),
        kind=mapping.kind,
        description=" ".join(str(var.description or "").split()),
        units=str(var.units or ""),
        choices=tuple(str(label) for label in enum_labels.values()),
    )


_STEM_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def stem_of(path: str) -> str:
    """File stem of a Device's screen: its path with characters unsafe in file names replaced."""
    return _STEM_CHARS.sub("_", path.replace(".", "-"))


def build(
    root: Root,
    base: str,
    inc: list[str] | None,
    exc: list[str] | None,
    pv_map: dict[str, str] | None,
    autosave: bool = False,
) -> ScreenSet:
    """The screens of a started `root`, served with these options (see `ioc.selection`).

    `autosave` says that the IOC runs with an autosave file, so it also serves the autosave PVs.
    """
    variables = select(root, base, inc, exc, pv_map)
    names = served_names(base, variables)
    by_device: dict[str, list[Item]] = {}
    for path, (var, _) in variables.items():
        device, _, _ = path.rpartition(".")
        by_device.setdefault(device or path, []).append(item_for(var, names[path].full))
    devices = _with_ancestors(by_device)
    screens: dict[str, Screen] = {}
    for device in devices:
        parent_path = device.rpartition(".")[0]
        screen = Screen(
            stem=stem_of(device),
            title=device,
            path=device,
            parent=stem_of(parent_path) if parent_path in devices else TOP,
        )
        screens[screen.stem] = screen
        if parent_path in devices:
            screens[stem_of(parent_path)].children.append(screen.stem)
        _paginate(screen, by_device.get(device, []), screens)
    top = Screen(stem=TOP, title=f"{base} (rogue-ioc)", path="")
    top.items = _ioc_items(base, autosave)
    top.children = [stem_of(d) for d in devices if d.rpartition(".")[0] not in devices]
    tree = [(device.count(".") - _depth0(devices), stem_of(device)) for device in devices]
    return ScreenSet(top=top, screens=screens, tree=tree)


def _ioc_items(base: str, autosave: bool) -> list[Item]:
    """The IOC's own PVs: the heartbeat and, with an autosave file, the autosave PVs.

    Their kind is text (`lsi/lso`): PyDM then shows the numbers and the long strings among them
    as text alike. The config save/load PVs take a file name: an entry, a put runs them.
    """
    own = dict(ioc_pvs(base))
    if autosave:
        own |= {f"{base}:IOC:{suffix}": desc for suffix, desc in configpvs.PVS.items()}
    commands = {f"{base}:IOC:{suffix}" for suffix in configpvs.COMMANDS}
    return [
        Item(
            pv=name,
            label=name.removeprefix(f"{base}:IOC:"),
            widget=Widget.ARG_ENTRY if name in commands else Widget.READBACK,
            kind="lsi/lso",
            description=desc,
        )
        for name, desc in own.items()
    ]


def _with_ancestors(by_device: dict[str, list[Item]]) -> list[str]:
    """Every Device path with served PVs plus its ancestors, depth-first in tree order."""
    ordered: list[str] = []
    seen: set[str] = set()
    for device in by_device:
        parts = device.split(".")
        for end in range(1, len(parts) + 1):
            prefix = ".".join(parts[:end])
            if prefix not in seen:
                seen.add(prefix)
                ordered.append(prefix)
    # Depth-first: a child right after its parent's earlier children (paths sort by component).
    index = {path: n for n, path in enumerate(ordered)}
    return sorted(
        ordered,
        key=lambda p: [index[".".join(p.split(".")[:k])] for k in range(1, p.count(".") + 2)],
    )


def _depth0(devices: list[str]) -> int:
    """The number of dots in the shallowest Device path (the tree's depth origin)."""
    return min((d.count(".") for d in devices), default=0)


def _paginate(screen: Screen, items: list[Item], screens: dict[str, Screen]) -> None:
    """Put `items` on `screen`, spilling every further `PAGE_ROWS` onto numbered page screens."""
    screen.items = items[:PAGE_ROWS]
    for number, start in enumerate(range(PAGE_ROWS, len(items), PAGE_ROWS), start=2):
        rows = items[start : start + PAGE_ROWS]
        page = Screen(
            stem=f"{screen.stem}.page{number}",
            title=f"{screen.title} (page {number})",
            path=screen.path,
            items=rows,
            parent=screen.stem,
            link=f"Page {number}: {rows[0].label} … {rows[-1].label}",
        )
        screen.pages.append(page.stem)
        screens[page.stem] = page
