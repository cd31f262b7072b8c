"""The autosave's PVs under ``<prefix>:IOC:``: its status, and config save/load commands.

* ``Autosave:Restored`` / ``Autosave:Skipped``: values applied and skipped at start (each skip
  is also one log line), ``Autosave:Saves`` and ``Autosave:LastSave`` (UTC) count the saves,
  ``Autosave:Error`` holds why the last save failed (empty when it worked).
* ``Config:Save`` and ``Config:Load`` take a file name in the autosave file's directory (like
  pyrogue's ``SaveConfig``/``LoadConfig`` commands, whose argument is a path on the server):
  a put of ``run7.yml`` writes or applies that file; the put completes when that is done, and
  ``Config:Result`` says what happened. A load applies values with the checks a client put
  gets; what does not fit is skipped and listed. A name that is not a plain ``.yml``/``.yaml``
  file name in that directory is refused.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from softioc import builder

from .autosave import Autosave
from .configfile import ConfigError

log = logging.getLogger(__name__)

#: Suffix after ``<prefix>:IOC:`` → description.
PVS = {
    "Autosave:Restored": "settings restored at start",
    "Autosave:Skipped": "saved settings not restored (see log)",
    "Autosave:Saves": "autosave file writes",
    "Autosave:LastSave": "time of the last autosave (UTC)",
    "Autosave:Error": "why the last autosave failed",
    "Config:Save": "write settings to a file (name)",
    "Config:Load": "apply settings from a file (name)",
    "Config:Result": "result of the last Config:Save/Load",
}
#: The PVs whose put runs something (a file name: write or apply that config file).
COMMANDS = ("Config:Save", "Config:Load")
TEXT_LENGTH = 1024
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*\.ya?ml")


def pv_names(prefix: str) -> dict[str, str]:
    """{PV name: owner} of these PVs, for the name plan's collision check."""
    return {f"{prefix}:IOC:{suffix}": "the autosave PVs" for suffix in PVS}


def config_file(directory: Path, name: str) -> Path:
    """The file ``name`` in ``directory``; ValueError unless a plain .yml/.yaml file name."""
    if not _FILE_NAME.fullmatch(name or ""):
        raise ValueError(f"{name!r} is not a plain .yml or .yaml file name")
    return directory / name


class ConfigPvs:
    """The records of one IOC's autosave; build before ``iocInit``."""

    def __init__(self, prefix: str, autosave: Autosave) -> None:
        self._autosave = autosave
        # absolute: Config:Result names the file by its full path, also for a relative --autosave
        self._directory = autosave.path.parent.absolute()
        records: dict[str, Any] = {}

        def name(suffix: str) -> str:
            return f"{prefix}:IOC:{suffix}"

        def text_in(suffix: str, value: str) -> None:
            records[suffix] = builder.longStringIn(
                name(suffix), initial_value=value, length=TEXT_LENGTH, DESC=PVS[suffix]
            )

        restored = autosave.restored
        for suffix, value in (
            ("Autosave:Restored", restored.applied),
            ("Autosave:Skipped", len(restored.skipped)),
            ("Autosave:Saves", 0),
        ):
            records[suffix] = builder.longIn(name(suffix), initial_value=value, DESC=PVS[suffix])
        text_in("Autosave:LastSave", "")
        text_in("Autosave:Error", "")
        text_in("Config:Result", "")
        for suffix, action in zip(COMMANDS, (self._save, self._load), strict=True):
            records[suffix] = builder.longStringOut(
                name(suffix),
                initial_value="",
                length=256,
                DESC=PVS[suffix],
                validate=self._check_name,
                on_update=action,
                always_update=True,
                blocking=True,
            )
        self._records = records
        #: Record names of the commands (their ASG is ``CONFIG``: see :mod:`ioc.access`).
        self.command_names = (name("Config:Save"), name("Config:Load"))
        autosave.on_save = self._show_save

    def _show_save(self) -> None:
        autosave = self._autosave
        self._records["Autosave:Saves"].set(autosave.saves)
        self._records["Autosave:LastSave"].set(autosave.last_save)
        self._records["Autosave:Error"].set(_fit(autosave.error))

    def _result(self, text: str) -> None:
        self._records["Config:Result"].set(_fit(text))

    def _check_name(self, record: Any, value: str) -> bool:
        try:
            config_file(self._directory, value)
        except ValueError as error:
            log.warning("%s: refused: %s", record.name, error)
            self._result(f"refused: {error}")
            return False
        return True

    def _save(self, value: str) -> None:
        path = config_file(self._directory, value)
        try:
            self._autosave.export(path)
        except OSError as error:
            self._result(f"failed: cannot write {path}: {error}")
            log.error("config save to %s failed: %s", path, error)
            return
        self._result(f"saved {path}")
        log.info("config saved to %s", path)

    def _load(self, value: str) -> None:
        path = config_file(self._directory, value)
        try:
            outcome = self._autosave.load(path)
        except ConfigError as error:
            self._result(f"failed: {error}")
            log.error("config load from %s failed: %s", path, error)
            return
        self._result(f"loaded {path}: {outcome.summary()}")
        log.info("config loaded from %s: %s", path, outcome.summary())


def _fit(text: str) -> str:
    """``text`` within the record's length (bytes, NUL included)."""
    return text.encode()[: TEXT_LENGTH - 1].decode(errors="ignore")
