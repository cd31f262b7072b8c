"""PV names, group selection and pvMap, start-up errors and stop (docs/design.md)."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import subprocess
import time

import pytest

from .roots import DEEP_PATH
from .support import REPO_TESTS, wait_for

LONG_PATHS = [
    "Crate.Slot03.CarrierBoard.FrontEndAmplifierChannel07.CalibrationCoefficient",
    "Crate.Slot03.CarrierBoard.FrontEndAmplifierChannel07.GainStageSelection",
]


def _default_selection() -> tuple[set[str], set[str]]:
    """Paths below root of SimRoot's nodes that are served by default (pyrogue's own
    included) and of those kept back by the NoServe group, read from the tree itself."""
    from sim import SimRoot

    with SimRoot(pollEn=False) as root:
        nodes = {var.path.removeprefix("root."): var for var in root.variableList}
    served = {path for path, var in nodes.items() if var.filterByGroup(None, ["NoServe"])}
    return served, set(nodes) - served


SERVED, KEPT_BACK = _default_selection()
(NOT_SERVED,) = KEPT_BACK
#: Rogue epicsV7's line exactly: ``PVNAME -> path``, then ``  (CA: SHORT)`` for a long name.
DUMP_LINE = re.compile(r"^(?P<pv>\S+) -> (?P<path>\S+)(?P<rest>(?:  \(CA: \S+\))?)$")
ABSENT_TIMEOUT = 1.5


def read_dump(path) -> dict[str, tuple[str, str]]:
    """{tree path: (PV name, rest of the line)} from a ``--dump`` file."""
    text = wait_for(lambda: path.exists() and path.read_text(), what=f"the dump {path}")
    entries = {}
    for line in text.splitlines():
        match = DUMP_LINE.match(line)
        assert match, f"dump line not Rogue's 'PVNAME -> path[  (CA: SHORT)]': {line!r}"
        entries[match["path"]] = (match["pv"], match["rest"])
    return entries


def short_name(prefix: str, pv: str, rest: str) -> str:
    """The short record name a dump line marks next to an aliased PV: Rogue epicsV7's form."""
    digest = hashlib.sha1(pv.encode()).hexdigest()[:10]
    expected = f"{prefix}:tail_{digest}"
    assert rest == f"  (CA: {expected})", f"dump line of {pv} does not end with (CA: {expected})"
    return expected


# --- long names -----------------------------------------------------------------------------------


def test_long_name_works_through_its_alias(ioc, ca, pva):
    pv = ioc.pv(LONG_PATHS[0])
    assert len(pv) > 60
    assert ca.get(f"{pv}.RTYP") == "ao"
    ca.put(pv, 3.25)
    assert ca.get(pv) == 3.25
    assert pva.get(pv) == 3.25
    subscriptions = [ca.monitor(pv), pva.monitor(pv)]
    pva.put(pv, 4.5)
    for updates in subscriptions:
        updates.wait_value(4.5)
    ca.put(pv, 1.0)


def test_dump_lists_every_pv_with_its_path(ioc, ca, pva):
    if ioc.dump_path is None:
        pytest.skip("the remote IOC's dump file is not reachable from here")
    entries = read_dump(ioc.dump_path)
    assert set(entries) == {f"root.{path}" for path in SERVED}
    for path, (pv, rest) in entries.items():
        assert pv == f"{ioc.prefix}:{path.replace('.', ':')}", path
        if len(pv) <= 60:
            assert rest == "", f"a short name marked for {pv}"
        else:
            record = short_name(ioc.prefix, pv, rest)
            assert len(record) <= 60
            assert ca.get(f"{record}.NAME") == record
            assert ca.get(f"{pv}.NAME") == record  # the alias leads to that record
    records = {short_name(ioc.prefix, *entries[f"root.{p}"]) for p in LONG_PATHS}
    assert len(records) == len(LONG_PATHS)


def test_every_pv_of_the_simulator_answers_on_ca_and_pva(ioc, ca, pva):
    names = [ioc.pv(path) for path in sorted(SERVED)]
    for name in names:
        ca.get(f"{name}.RTYP")
    values = pva.context.get(names, timeout=10)
    assert len(values) == len(names)


def test_very_long_alias(edge_ioc, ca, pva_of):
    """A PV name of over 500 characters works on CA and PVA."""
    pva = pva_of(edge_ioc)
    pv = edge_ioc.pv(".".join([*DEEP_PATH, "Leaf"]))
    assert len(pv) > 500
    assert ca.get(pv) == 3
    pva.put(pv, 11)
    assert ca.get(pv) == 11
    ca.put(pv, 12)
    assert pva.get(pv) == 12


# --- groups ---------------------------------------------------------------------------------------


def test_no_serve_group_not_served_by_default(ioc, ca, pva):
    assert ca.connects(ioc.pv("Version.ScratchPad"), ABSENT_TIMEOUT)
    assert not ca.connects(ioc.pv(NOT_SERVED), ABSENT_TIMEOUT)
    assert not pva.answers(ioc.pv(NOT_SERVED), ABSENT_TIMEOUT)


def test_explicit_exclude_replaces_the_default(ioc_factory, ca, pva_of, tmp_path):
    """--exclude Other: NoServe is no longer excluded, so InternalState is served too."""
    dump = tmp_path / "dump.txt"
    extra = ioc_factory.start("--exclude", "Other", "--dump", str(dump))
    assert set(read_dump(dump)) == {f"root.{p}" for p in SERVED | {NOT_SERVED}}
    assert ca.get(extra.pv(NOT_SERVED)) == 0
    assert pva_of(extra).get(extra.pv(NOT_SERVED)) == 0


def test_include_selects_only_that_group(ioc_factory, ca, pva_of, tmp_path):
    dump = tmp_path / "dump.txt"
    extra = ioc_factory.start("--include", "NoServe", "--exclude", "Other", "--dump", str(dump))
    assert set(read_dump(dump)) == {f"root.{NOT_SERVED}"}
    pva = pva_of(extra)
    pva.put(extra.pv(NOT_SERVED), 5)
    assert ca.get(extra.pv(NOT_SERVED)) == 5
    assert not ca.connects(extra.pv("Version.ScratchPad"), ABSENT_TIMEOUT)
    assert not pva.answers(extra.pv("Version.ScratchPad"), ABSENT_TIMEOUT)


def test_exclude_list(ioc_factory, ca, pva_of, tmp_path):
    dump = tmp_path / "dump.txt"
    extra = ioc_factory.start("--exclude", "NoServe,Other", "--dump", str(dump))
    assert set(read_dump(dump)) == {f"root.{p}" for p in SERVED}
    assert ca.connects(extra.pv("Version.ScratchPad"), ABSENT_TIMEOUT)
    assert not ca.connects(extra.pv(NOT_SERVED), ABSENT_TIMEOUT)


# --- pvMap ----------------------------------------------------------------------------------------


def test_pvmap_serves_exactly_the_mapped_paths(ioc_factory, ca, pva_of, tmp_path):
    prefix = "TMAP" + str(time.monotonic_ns())[-6:]
    names = {
        "root.Types.UInt16": f"{prefix}:Custom:U16",
        "root.Thermal.Heater": f"{prefix}-Heater",
    }
    pvmap = tmp_path / "map.yaml"
    pvmap.write_text("".join(f"{path}: '{name}'\n" for path, name in names.items()))
    dump = tmp_path / "dump.txt"
    extra = ioc_factory.start(
        "--pvmap", str(pvmap), "--dump", str(dump), prefix=prefix,
        ready_pv=names["root.Types.UInt16"],
    )  # fmt: skip
    pva = pva_of(extra)
    assert {path: pv for path, (pv, _) in read_dump(dump).items()} == names
    u16 = names["root.Types.UInt16"]
    ca.put(u16, 4321)
    assert pva.get(u16) == 4321
    pva.put(names["root.Thermal.Heater"], 12.5)
    assert ca.get(names["root.Thermal.Heater"]) == 12.5
    for absent in (extra.pv("Types.UInt16"), extra.pv("Types.UInt32"), extra.pv("Thermal.Heater")):
        assert not ca.connects(absent, ABSENT_TIMEOUT), absent
        assert not pva.answers(absent, ABSENT_TIMEOUT), absent


def failed_start(ioc_factory, *args: str, env=None) -> str:
    """Run an IOC that must refuse to start: exit code 2; returns its output."""
    result: subprocess.CompletedProcess = ioc_factory.run(*args, env=env)
    assert result.returncode == 2, result.stdout
    return result.stdout


def test_pvmap_with_missing_paths_fails_naming_them(ioc_factory, tmp_path):
    pvmap = tmp_path / "map.yaml"
    pvmap.write_text(
        "root.Types.UInt16: 'TMISS:U16'\nroot.Nope.Missing: 'TMISS:A'\nroot.Types.Nope: 'TMISS:B'\n"
    )
    output = failed_start(ioc_factory, "--pvmap", str(pvmap))
    assert "root.Nope.Missing" in output
    assert "root.Types.Nope" in output


def test_pvmap_with_two_paths_on_one_name_fails_naming_both(ioc_factory, tmp_path):
    pvmap = tmp_path / "map.json"
    pvmap.write_text(
        json.dumps({"root.Types.UInt8": "TDUP:Same", "root.Types.UInt16": "TDUP:Same"})
    )
    output = failed_start(ioc_factory, "--pvmap", str(pvmap))
    assert "root.Types.UInt8" in output
    assert "root.Types.UInt16" in output


def test_pvmap_name_with_illegal_characters_fails_naming_the_path(ioc_factory, tmp_path):
    pvmap = tmp_path / "map.json"
    pvmap.write_text(json.dumps({"root.Types.UInt8": "TBAD:has space"}))
    output = failed_start(ioc_factory, "--pvmap", str(pvmap))
    assert "root.Types.UInt8" in output


def test_path_with_illegal_characters_fails_naming_it(ioc_factory):
    output = failed_start(
        ioc_factory, "--root", "integration.roots:BadNameRoot", env={"PYTHONPATH": REPO_TESTS}
    )
    assert "root.Dev.Not Fine$" in output


# --- stop -----------------------------------------------------------------------------------------


def test_sigterm_stops_cleanly_within_seconds(ioc_factory):
    extra = ioc_factory.start()
    started = time.monotonic()
    code = extra.stop(signal.SIGTERM)
    assert time.monotonic() - started < 10
    assert code == 0, extra.log_tail()
    assert "Traceback" not in extra.log_text()
