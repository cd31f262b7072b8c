"""rogue-ioc: serve a PyRogue tree as softioc records over Channel Access and PV Access."""

# First: the record-name table can only be sized before softioc is imported.
from . import _softioc  # noqa: F401
from .holder import EpicsPvHolder
from .server import EpicsPvServer

__all__ = ["EpicsPvHolder", "EpicsPvServer"]
