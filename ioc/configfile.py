"""pyrogue's YAML configuration format: write it, read it, and find the settings its keys name.

The format is what a pyrogue Root's ``saveYaml``/``SaveConfig`` writes and ``loadYaml``/
``LoadConfig`` reads: one mapping under the Root's name (``root:``), nested by device name down
to the variables, whose values are their display strings (``valueDisp``) tagged as YAML bool,
int or float where the value is one (enum labels are always strings). Reading accepts the forms
pyrogue accepts: absolute dotted keys at the top (``root.Dev.Var: 3``), device arrays with an
index, a slice or a wildcard (``Dev[0]``, ``Dev[1:3]``, ``Dev[*]``), array elements
(``Var[2]: 5``, ``Var[0:2]: 7``, ``Var: {0: 1, 3: 4}``) and ``!include other.yml``.

Nothing here touches a tree or EPICS: paths are strings, values are what YAML parsed.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

BOOL_TAG = "tag:yaml.org,2002:bool"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
STR_TAG = "tag:yaml.org,2002:str"
NULL_TAG = "tag:yaml.org,2002:null"

#: Texts that may be written without quotes when YAML resolves them to the intended tag.
_PLAIN = re.compile(r"[A-Za-z0-9_.+\-/(][A-Za-z0-9_.+\-/()\[\] ,<>=;~^$]*")
_INT_TEXT = re.compile(r"[-+]?(?:0|[1-9][0-9_]*|0x[0-9a-fA-F_]+|0b[01_]+)")
_INDEX_KEY = re.compile(r"([^\[\]]+)((?:\[[^\[\]]*\])+)")
_CHILD_INDEX = re.compile(r"\[(\d+)\]")
_resolver = yaml.resolver.Resolver()
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """A configuration file that cannot be read as a whole (not YAML, not a mapping, unreadable)."""


# --- writing -------------------------------------------------------------------------------------


def yaml_value(vv: Any) -> str:
    """A VariableValue as the YAML text of its value in a config file (see :func:`scalar_of`)."""
    return _scalar(*scalar_of(vv))


def scalar_of(vv: Any) -> tuple[str, str | None]:
    """(YAML tag, text) of a VariableValue, as pyrogue's config files hold it.

    The text is the display string, as pyrogue writes it, where that reads back as the value.
    A float shown with fewer digits than it has, or an integer shown in a form YAML reads
    differently (``00012`` is octal to YAML), is written exactly instead: a settings file must
    give back what was set.
    """
    value, text = vv.value, vv.valueDisp
    if text is None:
        return NULL_TAG, None
    if isinstance(value, bool):
        return BOOL_TAG, text
    if getattr(vv, "enum", None) is not None:
        return STR_TAG, text
    if isinstance(value, int):
        return INT_TAG, text if _int_text(text) == value else str(value)
    if isinstance(value, float):
        return FLOAT_TAG, text if _float_text(text) == value or value != value else repr(value)
    if isinstance(value, np.ndarray) and value.dtype.kind == "f":
        exact = "[" + ", ".join(map(repr, value.tolist())) + "]"
        return STR_TAG, text if _floats_text(text) == value.tolist() else exact
    return STR_TAG, str(text)


def _int_text(text: str) -> int | None:
    """The integer YAML reads from a display string, if it reads one the way Python does."""
    if not _INT_TEXT.fullmatch(text):
        return None
    return int(text.replace("_", ""), 0)


def _float_text(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _floats_text(text: str) -> list[float] | None:
    try:
        return [float(item) for item in text.strip("[]").split(",") if item.strip()]
    except ValueError:
        return None


def _scalar(tag: str, text: str | None) -> str:
    """One YAML scalar on one line: plain where that reads back as ``tag``, else quoted/tagged."""
    if text is None:
        return "null"
    plain = _PLAIN.fullmatch(text) and not text.endswith(" ")
    if plain and _resolver.resolve(yaml.ScalarNode, text, (True, False)) == tag:
        return text
    node = yaml.MappingNode(
        "tag:yaml.org,2002:map",
        [(yaml.ScalarNode(STR_TAG, "k"), yaml.ScalarNode(tag, text, style='"'))],
    )
    line = yaml.serialize(node, Dumper=_Dumper, width=2**30, allow_unicode=True)
    return line[len("k: ") :].rstrip("\n")


class Layout:
    """The fixed part of a config file for settings in tree order: keys, nesting, indentation.

    Built once per set of paths; :meth:`text` then only joins in the values, so a save of many
    settings costs a string join, not a YAML emitter run.
    """

    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = list(paths)
        keys: dict[str, str] = {}
        self._prefixes: list[str] = []
        previous: list[str] = []
        for path in self.paths:
            parts = path.split(".")
            common = 0
            while common < min(len(previous), len(parts) - 1) and previous[common] == parts[common]:
                common += 1
            head = "".join(
                f"{'  ' * depth}{_key(keys, parts[depth])}:\n"
                for depth in range(common, len(parts) - 1)
            )
            self._prefixes.append(f"{head}{'  ' * (len(parts) - 1)}{_key(keys, parts[-1])}: ")
            previous = parts[:-1]

    def text(self, values: Iterable[str]) -> str:
        """The file with ``values`` (YAML value texts, one per path, in order)."""
        if not self.paths:
            return "{}\n"
        return "".join(
            f"{prefix}{value}\n" for prefix, value in zip(self._prefixes, values, strict=True)
        )


def render(entries: Iterable[tuple[str, str]]) -> str:
    """The config file of ``entries`` (dotted path → YAML value text), nested by path, in order.

    Entries of one device must be contiguous (tree order); the first path component is the
    Root's name, the top key.
    """
    pairs = list(entries)
    return Layout(path for path, _ in pairs).text(value for _, value in pairs)


def _key(cache: dict[str, str], name: str) -> str:
    """A mapping key as YAML text (node names are almost always plain)."""
    text = cache.get(name)
    if text is None:
        text = cache[name] = _scalar(STR_TAG, name)
    return text


def temporaries(path: Path) -> list[Path]:
    """Temporary files of :func:`write_atomically` for ``path`` that a crash left behind."""
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash at any moment leaves the old or the new file.

    The text goes to a temporary file in the same directory, is flushed to disk, renamed over
    ``path``, and the directory entry is flushed too.
    """
    directory = path.parent
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# --- reading -------------------------------------------------------------------------------------


def read(path: Path) -> Any:
    """The data of the config file ``path`` (``!include`` resolved relative to it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    return parse(text, path)


def parse(text: str, origin: Path | None = None) -> Any:
    """The data of config text; ``origin`` is the file it came from (for ``!include``)."""

    class Loader(_BaseLoader):  # type: ignore[misc,valid-type]
        pass

    def include(loader: Any, node: Any) -> Any:
        name = Path(loader.construct_scalar(node))
        if not name.is_absolute():
            name = (origin.parent if origin is not None else Path.cwd()) / name
        return read(name)

    Loader.add_constructor("!include", include)
    try:
        return yaml.load(text, Loader=Loader)  # a SafeLoader subclass
    except yaml.YAMLError as error:
        where = f" in {origin}" if origin is not None else ""
        mark = getattr(error, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ConfigError(f"not valid YAML{where}: {problem}{at}") from error


@dataclass(frozen=True)
class Entry:
    """One value the file gives a variable: the whole value, or elements (``index`` a key)."""

    path: str
    value: Any
    index: str | None = None


@dataclass(frozen=True)
class Problem:
    """A key of the file that names no setting, or a value of the wrong shape for its node."""

    key: str
    reason: str


class SettingsTree:
    """The settings as a tree of names, to resolve a config file's keys the way pyrogue does."""

    def __init__(self, paths: Iterable[str]) -> None:
        self.top: dict[str, Any] = {}
        for path in paths:
            node = self.top
            parts = path.split(".")
            for part in parts[:-1]:
                child = node.setdefault(part, {})
                if not isinstance(child, dict):
                    break
                node = child
            else:
                node.setdefault(parts[-1], path)

    def resolve(self, data: Any) -> tuple[list[Entry], list[Problem]]:
        """The entries a file's data sets, and the keys that set nothing."""
        entries: list[Entry] = []
        problems: list[Problem] = []
        if data is None:
            return entries, problems
        if not isinstance(data, dict):
            raise ConfigError(f"expected a mapping with the Root's name on top, got {_kind(data)}")
        for key, value in data.items():
            key = str(key)
            matches, element = self._absolute(key)
            if not matches:
                problems.append(Problem(key, "no such setting"))
            for node in matches:
                self._visit(key, node, value, element, entries, problems)
        return entries, problems

    def _absolute(self, key: str) -> tuple[list[Any], str | None]:
        """What an absolute dotted key (``root``, ``root.Dev.Var``, ``root.Dev[1:3]``) names."""
        *parents, last = key.split(".")
        node: Any = self.top
        for part in parents:
            if not isinstance(node, dict) or part not in node:
                return [], None
            node = node[part]
        return _match(node, last) if isinstance(node, dict) else ([], None)

    def _visit(
        self,
        key: str,
        node: Any,
        value: Any,
        index: str | None,
        entries: list[Entry],
        problems: list[Problem],
    ) -> None:
        if isinstance(node, str):
            entries.append(Entry(node, value, index))
            return
        if index is not None:
            problems.append(Problem(key, "an index on a device that is not an array"))
            return
        if not isinstance(value, dict):
            problems.append(Problem(key, f"a device needs a mapping, got {_kind(value)}"))
            return
        for name, sub in value.items():
            name = str(name)
            where = f"{key}.{name}"
            matches, element = _match(node, name)
            if not matches:
                problems.append(Problem(where, "no such setting"))
            for child in matches:
                self._visit(where, child, sub, element, entries, problems)


def _match(node: dict[str, Any], name: str) -> tuple[list[Any], str | None]:
    """pyrogue's nodeMatch: the children ``name`` selects, and an element index left for a variable.

    ``Name`` is a child; ``Name[k]`` is child ``Name`` with element index ``k`` when ``Name`` is
    a child, else the members ``Name[i]`` (``Name[i][j]``, ...) of a device array selected by an
    index, a slice or ``*``/``:`` per dimension.
    """
    if name in node:
        return [node[name]], None
    found = _INDEX_KEY.fullmatch(name)
    if found is None:
        return [], None
    base, keys = found.group(1), found.group(2)[1:-1].split("][")
    if base in node:
        return ([node[base]], keys[0]) if len(keys) == 1 else ([], None)
    members = {}
    for child, value in node.items():
        if child.startswith(base + "["):
            indices = _CHILD_INDEX.findall(child[len(base) :])
            if "".join(f"[{i}]" for i in indices) == child[len(base) :]:
                members[tuple(int(i) for i in indices)] = value
    members = {position: value for position, value in members.items() if len(position) == len(keys)}
    if not members:
        return [], None
    allowed = [
        set(element_positions(k, 1 + max(position[d] for position in members)) or ())
        for d, k in enumerate(keys)
    ]
    selected = [
        value
        for position, value in sorted(members.items())
        if all(p in chosen for p, chosen in zip(position, allowed, strict=True))
    ]
    return selected, None


def element_positions(key: str, length: int) -> list[int] | None:
    """The positions of ``range(length)`` an index key selects, or None if it is no index key."""
    key = key.strip()
    if key in ("*", ":"):
        return list(range(length))
    try:
        if ":" not in key:
            position = int(key)
            return [range(length)[position]] if -length <= position < length else []
        parts = [int(part) if part.strip() else None for part in key.split(":")]
    except ValueError:
        return None
    if len(parts) > 3 or parts[2:3] == [0]:
        return None
    return list(range(length))[slice(*parts)]


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"
