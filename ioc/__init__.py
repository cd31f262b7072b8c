"""rogue-ioc: serve a PyRogue tree as softioc records over Channel Access and PV Access."""

from .holder import EpicsPvHolder
from .server import EpicsPvServer

__all__ = ["EpicsPvHolder", "EpicsPvServer"]
