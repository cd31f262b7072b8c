"""pyrogue's YAML configuration format: `dataToYaml`, `yamlToData` and the file list of loadYaml.

A configuration is a mapping `{RootName: {Device: {Variable: value}}}` in tree order; each value
is written as its display string, typed as YAML bool/int/float when the variable's value is one
(enum values as strings). Keys may index array children ('Reg[2]', 'Reg[*]', 'Reg[0:3]').
"""

from __future__ import annotations

import glob
import os
from typing import Any

import yaml

from sim.variable import VariableValue

__all__ = ["dataToYaml", "yamlFiles", "yamlToData"]


class _Dumper(yaml.Dumper):
    """Keeps mapping order and writes VariableValues as typed display strings."""


def _representValue(dumper: yaml.Dumper, data: VariableValue) -> Any:
    if isinstance(data.value, bool):
        tag = "bool"
    elif data.enum is not None:
        tag = "str"
    elif isinstance(data.value, int):
        tag = "int"
    elif isinstance(data.value, float):
        tag = "float"
    else:
        tag = "str"
    if data.valueDisp is None:
        return dumper.represent_scalar("tag:yaml.org,2002:null", "null")
    return dumper.represent_scalar(f"tag:yaml.org,2002:{tag}", data.valueDisp)


def _representDict(dumper: yaml.Dumper, data: dict) -> Any:
    return dumper.represent_mapping(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, data.items())


_Dumper.add_representer(VariableValue, _representValue)
_Dumper.add_representer(dict, _representDict)


def dataToYaml(data: Any) -> str:
    """YAML text of `data` (mappings in order, VariableValues as display strings)."""
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False)


class _Loader(yaml.SafeLoader):
    """A safe loader that also understands pyrogue's `!include file` tag."""


def _include(loader: _Loader, node: yaml.Node) -> Any:
    name = os.path.join(
        os.path.dirname(getattr(loader, "name", "") or ""), loader.construct_scalar(node)
    )
    return yamlToData(fName=name)


_Loader.add_constructor("!include", _include)


def yamlToData(stream: str = "", fName: str | None = None) -> Any:
    """The data of YAML text, or of the file `fName`."""
    if fName is not None:
        with open(fName) as f:
            return yaml.load(f, Loader=_Loader)
    return yaml.load(stream, Loader=_Loader)


def yamlFiles(name: str | list[str]) -> list[str]:
    """The YAML files loadYaml reads for `name`: files, comma lists, directories (sorted)."""
    entries = name if isinstance(name, list) else name.split(",")
    files: list[str] = []
    for entry in entries:
        if entry.endswith((".yml", ".yaml")):
            files.append(entry)
        elif os.path.isdir(entry):
            files.extend(sorted(glob.glob(f"{entry}/*.yml") + glob.glob(f"{entry}/*.yaml")))
        else:
            raise ValueError(
                f"loadYaml: Invalid load file: {entry}, must be a directory or end in .yml or .yaml"
            )
    return files
