"""What the IOC serves: the Variables and Commands it selects, their PV names, its own PVs.

The server and the screens generator both call these functions, so a screen names exactly the
PVs the IOC serves. Pure functions over a started Root; nothing here touches EPICS.
"""

from collections.abc import Iterable

from .naming import STATUS_PVS, RecordName, heartbeat_name, plan_names, pv_name, status_name
from .tree import Node, Root, Variable

DEFAULT_EXCLUDE = ["NoServe"]
"""Groups left out when the caller names none (pyrogue's convention)."""


def split_list(values: str | Iterable[str] | None) -> list[str] | None:
    """Names from a comma-separated string or several of them, stripped, empty ones dropped.

    The one reading of a group list (the server's ``incGroups``/``excGroups``, the command's
    ``--include``/``--exclude``) and of other repeatable comma-separated options. None stays None
    (the caller's default applies); an empty list stays an empty list.
    """
    if values is None:
        return None
    items = [values] if isinstance(values, str) else values
    return [name.strip() for item in items for name in item.split(",") if name.strip()]


def select(
    root: Root,
    base: str,
    inc: list[str] | None,
    exc: list[str] | None,
    pv_map: dict[str, str] | None,
) -> dict[str, tuple[Variable, str]]:
    """{path: (variable, full PV name)} of everything to serve, in tree order.

    Without `pv_map`, every Variable and Command of `root` that passes `filterByGroup(inc, exc)`
    is served as `<base>:<path with ':' for '.'>` (`exc` None means `DEFAULT_EXCLUDE`); with it
    exactly the mapped paths are served under the given names (a path not in the tree is a
    ValueError).
    """
    exc = DEFAULT_EXCLUDE if exc is None else exc
    if pv_map is None:
        return {
            var.path: (var, pv_name(base, var.path))
            for var in root.variableList
            if var.filterByGroup(inc, exc)
        }
    by_path = {var.path: var for var in root.variableList}
    missing = [path for path in pv_map if path not in by_path]
    if missing:
        raise ValueError("pvMap names paths that are not in the tree: " + ", ".join(missing))
    return {path: (by_path[path], name) for path, name in pv_map.items()}


def in_group(node: Node | None, group: str) -> bool:
    """True when `node` or a Device above it is in `group` (pyrogue's devices may hold the group
    without passing it on to their variables)."""
    while node is not None:
        if node.inGroup(group):
            return True
        parent = getattr(node, "parent", None)
        node = parent if parent is not node else None
    return False


def ioc_pvs(base: str) -> dict[str, str]:
    """{PV name: description} of the PVs the IOC serves about itself under `base` (the chunks
    of the packed name list aside)."""
    status = {status_name(base, suffix): desc for suffix, desc in STATUS_PVS.items()}
    return {heartbeat_name(base): "the IOC heartbeat", **status}


def served_names(base: str, variables: dict[str, tuple[Variable, str]]) -> dict[str, RecordName]:
    """Record names of the selected variables (see `naming.plan_names`), keyed by path."""
    return plan_names(
        base, {path: full for path, (_, full) in variables.items()}, reserved=ioc_pvs(base)
    )


def writable(var: Variable, record_writable: bool) -> bool:
    """True when the PV of `var` is an Out record: RW/WO or a Command, and the kind allows it."""
    return var.mode != "RO" and record_writable
