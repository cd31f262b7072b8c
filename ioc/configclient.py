"""`rogue-ioc config save|load FILE`: ask a running IOC to write or apply a settings file.

The IOC does the work (see :mod:`ioc.configpvs`); this is a PVA put of the file name to
``<prefix>:IOC:Config:Save`` or ``Config:Load`` that waits for completion, then a get of
``Config:Result``. The put is a client put like any other: access security applies to it.
"""

from __future__ import annotations

import os

from .health import search_locally

#: What ``Config:Result`` starts with after each action succeeded.
DONE = {"save": "saved ", "load": "loaded "}


def run(prefix: str, action: str, name: str, timeout: float) -> tuple[bool, str]:
    """(done, one line from the IOC) for ``action`` ('save' or 'load') of file ``name``."""
    from p4p.client.thread import Context

    search_locally(os.environ)
    command = f"{prefix}:IOC:Config:{action.capitalize()}"
    with Context("pva", nt=False) as context:
        try:
            context.put(command, {"value": name}, timeout=timeout, wait=True)
            result = str(context.get(f"{prefix}:IOC:Config:Result", timeout=timeout)["value"])
        except Exception as error:  # no IOC, no access, a timeout: all are the answer
            return False, f"{command}: {type(error).__name__}: {error}".rstrip(": ")
    done = result.startswith(DONE[action]) and f"/{name}" in result
    return done, result
