"""pyrogue's Node: a named element of a tree with groups, children and tree queries.

Devices (and the Root) hold children; Variables and Commands are leaves. Children are reachable
as attributes, and children named `Name[i]` (or `Name[i][j]`) also as `node.Name[i]`. Groups
follow pyrogue: `hidden=True` is the group 'Hidden', a node inherits its parent's groups when
the tree is attached, `addToGroup` reaches every node below.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["Node", "NodeError"]

_ARRAY_SPLIT = re.compile(r"\]\[|\[|\]")


class NodeError(Exception):
    """A tree could not be built as asked (duplicate names, adding to a running tree, ...)."""


def _asGroups(groups: str | Iterable[str] | None) -> list[str]:
    if groups is None:
        return []
    return [groups] if type(groups) is str else list(groups)


class Node:
    """A named element of a tree: a Device (with children) or a Variable/Command.

    `path` is the dotted path from the Root once the tree is attached (at Root start, or when
    added to a Device that already belongs to a Root).
    """

    isDevice = False
    isVariable = False
    isCommand = False

    def __init__(
        self,
        *,
        name: str,
        description: str = "",
        expand: bool = True,
        hidden: bool = False,
        groups: str | Iterable[str] | None = None,
        guiGroup: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or "." in name:
            raise NodeError(f"invalid node name {name!r}")
        self._name = name
        self._description = description
        self._expand = expand
        self._guiGroup = guiGroup
        self._groups = _asGroups(groups)
        self._parent: Node | None = None
        self._root: Any = None
        self._path = name
        self._nodes: dict[str, Node] = {}
        self._anodes: dict[str, dict] = {}
        if hidden:
            self.addToGroup("Hidden")

    def __repr__(self) -> str:
        return f"{type(self)} - {self._path}"

    # --- attributes --------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The node's name."""
        return self._name

    @property
    def description(self) -> str:
        """Free text describing the node."""
        return self._description

    @property
    def path(self) -> str:
        """Dotted path from the Root, e.g. 'root.Dev.Var' (just the name before attachment)."""
        return self._path

    @property
    def parent(self) -> Node | None:
        """The Device this node was added to."""
        return self._parent

    @property
    def root(self) -> Any:
        """The Root of the tree once attached, else None."""
        return self._root

    @property
    def expand(self) -> bool:
        """GUI hint: shown expanded."""
        return self._expand

    @property
    def guiGroup(self) -> str | None:
        """GUI hint: the group box the node is shown in."""
        return self._guiGroup

    @property
    def groups(self) -> list[str]:
        """The node's groups."""
        return self._groups

    @property
    def hidden(self) -> bool:
        """True when the node is in the 'Hidden' group."""
        return "Hidden" in self._groups

    @hidden.setter
    def hidden(self, value: bool) -> None:
        if value is True:
            self.addToGroup("Hidden")
        else:
            self.removeFromGroup("Hidden")

    # --- groups ------------------------------------------------------------------------------

    def inGroup(self, group: str | Iterable[str]) -> bool:
        """True when the node is in `group` (a name) or in any group of a list."""
        if isinstance(group, str):
            return group in self._groups
        return any(g in self._groups for g in group)

    def filterByGroup(
        self, incGroups: str | Iterable[str] | None, excGroups: str | Iterable[str] | None
    ) -> bool:
        """pyrogue's group filter: included (no incGroups, or in one) and in no excGroup."""
        return (not incGroups or self.inGroup(incGroups)) and (
            not excGroups or not self.inGroup(excGroups)
        )

    def addToGroup(self, group: str) -> None:
        """Add this node and everything below it to `group`."""
        if group not in self._groups:
            self._groups.append(group)
        for child in self._nodes.values():
            child.addToGroup(group)

    def removeFromGroup(self, group: str) -> None:
        """Remove this node (only) from `group`."""
        if group in self._groups:
            self._groups.remove(group)

    # --- children ----------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        nodes = self.__dict__.get("_nodes")
        if nodes is not None:
            if name in nodes:
                return nodes[name]
            anodes = self.__dict__["_anodes"]
            if name in anodes:
                return anodes[name]
        raise AttributeError(f"{type(self).__name__} {self.__dict__.get('_path')} has no {name!r}")

    def __contains__(self, item: Node) -> bool:
        return item in self._nodes.values()

    @property
    def nodes(self) -> dict[str, Node]:
        """The direct children by name, in the order they were added."""
        return self._nodes

    def node(self, name: str) -> Node | None:
        """The child called `name`, or None."""
        return self._nodes.get(name)

    def getNodes(
        self,
        typ: type,
        excTyp: type | None = None,
        incGroups: str | Iterable[str] | None = None,
        excGroups: str | Iterable[str] | None = None,
    ) -> dict[str, Node]:
        """The direct children of type `typ` (not `excTyp`) passing the group filter."""
        return {
            k: n
            for k, n in self._nodes.items()
            if isinstance(n, typ)
            and (excTyp is None or not isinstance(n, excTyp))
            and n.filterByGroup(incGroups, excGroups)
        }

    @property
    def variables(self) -> dict[str, Node]:
        """Direct child Variables (Commands excluded)."""
        return {k: n for k, n in self._nodes.items() if n.isVariable}

    def variablesByGroup(self, incGroups: Any = None, excGroups: Any = None) -> dict[str, Node]:
        """Direct child Variables passing the group filter."""
        return {
            k: n
            for k, n in self._nodes.items()
            if n.isVariable and n.filterByGroup(incGroups, excGroups)
        }

    @property
    def commands(self) -> dict[str, Node]:
        """Direct child Commands."""
        return {k: n for k, n in self._nodes.items() if n.isCommand}

    def commandsByGroup(self, incGroups: Any = None, excGroups: Any = None) -> dict[str, Node]:
        """Direct child Commands passing the group filter."""
        return {
            k: n
            for k, n in self._nodes.items()
            if n.isCommand and n.filterByGroup(incGroups, excGroups)
        }

    @property
    def devices(self) -> dict[str, Node]:
        """Direct child Devices."""
        return {k: n for k, n in self._nodes.items() if n.isDevice}

    def devicesByGroup(self, incGroups: Any = None, excGroups: Any = None) -> dict[str, Node]:
        """Direct child Devices passing the group filter."""
        return {
            k: n
            for k, n in self._nodes.items()
            if n.isDevice and n.filterByGroup(incGroups, excGroups)
        }

    @property
    def nodeList(self) -> list[Node]:
        """Every node below this one, depth first."""
        found: list[Node] = []
        for child in self._nodes.values():
            found.append(child)
            found.extend(child.nodeList)
        return found

    @property
    def deviceList(self) -> list[Node]:
        """Every Device below this one, depth first."""
        return [n for n in self.nodeList if n.isDevice]

    @property
    def variableList(self) -> list[Any]:
        """Every Variable and Command below this node, in tree (depth-first) order."""
        found: list[Any] = []
        stack = [iter(self._nodes.values())]
        while stack:
            for child in stack[-1]:
                if child.isDevice:
                    stack.append(iter(child._nodes.values()))
                    break
                found.append(child)
            else:
                stack.pop()
        return found

    def isinstance(self, typ: type) -> bool:
        """isinstance(self, typ)."""
        return isinstance(self, typ)

    def find(self, *, recurse: bool = True, typ: type | None = None, **kwargs: Any) -> list[Node]:
        """Nodes below of type `typ` whose attributes match `kwargs` (strings as regexes)."""
        found = []
        for child in self._nodes.values():
            if isinstance(child, typ or Node) and all(
                _matches(child, prop, want) for prop, want in kwargs.items()
            ):
                found.append(child)
            if recurse:
                found.extend(child.find(recurse=True, typ=typ, **kwargs))
        return found

    def callRecursive(
        self, func: str, nodeTypes: Iterable[type] | None = None, **kwargs: Any
    ) -> None:
        """Call method `func` on this node and on every child of `nodeTypes` below."""
        getattr(self, func)(**kwargs)
        types = tuple(nodeTypes or (Node,))
        for child in self._nodes.values():
            if isinstance(child, types):
                child.callRecursive(func, types, **kwargs)

    def makeRecursive(self, func: str, nodeTypes: Iterable[type] | None = None) -> Callable:
        """A function calling callRecursive(func, nodeTypes, **kwargs)."""
        return lambda **kwargs: self.callRecursive(func, nodeTypes, **kwargs)

    def nodeMatch(self, name: str) -> tuple[list[Node], list[str] | None]:
        """Children matching `name`, which may index array children ('R[2]', 'R[*]', 'R[0:2]').

        Returns (nodes, keys): keys are left over when `name` indexes one array Variable.
        """
        if name in self._nodes:
            return [self._nodes[name]], None
        fields = _ARRAY_SPLIT.split(name)
        base, keys = fields[0], fields[1:-1]
        if base in self._nodes:
            return [self._nodes[base]], keys
        if base not in self._anodes or not keys:
            return [], None
        return _iterateKeys(self._anodes[base], keys), None

    # --- tree building -----------------------------------------------------------------------

    def _addArrayNode(self, node: Node) -> None:
        """Register a child named 'Name[i]...' under `self.Name[i]...`."""
        fields = _ARRAY_SPLIT.split(node.name)
        if len(fields) < 3:
            return
        base, keys = fields[0], fields[1:-1]
        if not all(k.isdigit() for k in keys):
            return
        if base in self._nodes or hasattr(type(self), base):
            raise NodeError(f"Error adding {node.name} to {self._name}. Name collision.")
        level = self._anodes.setdefault(base, {})
        for depth, key in enumerate(int(k) for k in keys):
            if depth == len(keys) - 1:
                if key in level:
                    raise NodeError(f"Error adding {node.name} to {self._name}. Name collision.")
                level[key] = node
            else:
                level = level.setdefault(key, {})
                if isinstance(level, Node):
                    raise NodeError(f"Error adding {node.name} to {self._name}. Name collision.")

    def _rootAttached(self, parent: Node, root: Any) -> None:
        """The tree is attached: take parent, root, path and the parent's groups."""
        self._parent = parent
        self._root = root
        self._path = f"{parent._path}.{self._name}"
        for group in parent._groups:
            if group not in self._groups:
                self._groups.append(group)
        for child in self._nodes.values():
            child._rootAttached(self, root)

    def _finishInit(self) -> None:
        for child in self._nodes.values():
            child._finishInit()


def _matches(node: Node, prop: str, want: Any) -> bool:
    if not hasattr(node, prop):
        return False
    have = getattr(node, prop)
    if isinstance(want, str):
        return isinstance(have, str) and re.match(want, have) is not None
    if inspect.ismethod(have):
        have = have()
    return bool(want == have)


def _iterateKeys(level: dict, keys: list[str]) -> list[Node]:
    """The nodes of an array dictionary selected by keys ('*', ':', an index or a slice)."""
    key = keys[0]
    if key in ("*", ":"):
        selected = list(level.values())
    elif key.isdigit():
        selected = [level[int(key)]] if int(key) in level else []
    else:
        dense = [level.get(i) for i in range(max(level) + 1)]
        try:
            parts = [int(p) if p.strip() else None for p in key.split(":")]
            selected = dense[slice(*parts)]
        except (ValueError, TypeError):
            selected = []
    found: list[Node] = []
    for item in selected:
        if len(keys) == 1 and isinstance(item, Node):
            found.append(item)
        elif len(keys) > 1 and isinstance(item, dict):
            found.extend(_iterateKeys(item, keys[1:]))
    return found
