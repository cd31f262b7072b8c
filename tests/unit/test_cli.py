"""Unit tests for ioc.cli: options from flags and environment, configuration errors, exit codes."""

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from ioc.cli import (
    CliError,
    load_pvmap,
    load_root_class,
    make_root,
    parse_args,
    settings,
)
from ioc.options import ENV_DEFAULTS
from sim.ports import free_ports

REPO = Path(__file__).resolve().parents[2]

FAKE_ROOTS = '''
class Plain:
    """Instantiates fine but has no Root API."""


class Broken:
    """Its constructor fails, as a Root that cannot reach its hardware."""

    def __init__(self):
        raise RuntimeError("no hardware at 10.0.0.1")


class Almost:
    """Has most of the Root API; `variableList` is a property that must not be evaluated."""

    @property
    def variableList(self):
        raise AssertionError("evaluated")

    def addProtocol(self, protocol):
        """Accept a protocol."""

    def start(self):
        """Start."""


not_a_class = 42


class Var:
    """Just enough of a Variable for the server to select and name it."""

    def __init__(self, path):
        self.path = path

    def filterByGroup(self, incGroups, excGroups):
        """Served whatever the groups."""
        return True


class EmptyRoot:
    """A Root with no Variables: the IOC serves only its heartbeat."""

    def __init__(self):
        self.running = False
        self.variableList = []
        self._protocols = []

    def addProtocol(self, protocol):
        """Start and stop `protocol` with the Root."""
        self._protocols.append(protocol)

    def start(self):
        """Run, then start the protocols."""
        self.running = True
        for protocol in self._protocols:
            protocol._start()

    def stop(self):
        """Stop the protocols, then stop running."""
        for protocol in self._protocols:
            protocol._stop()
        self.running = False


class BadNameRoot(EmptyRoot):
    """A Root whose only Variable has a space in its name."""

    def __init__(self):
        super().__init__()
        self.variableList = [Var("root.My Var")]
'''


@pytest.fixture
def roots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory on sys.path holding the module `fake_roots` (see FAKE_ROOTS)."""
    (tmp_path / "fake_roots.py").write_text(FAKE_ROOTS)
    (tmp_path / "imports_missing.py").write_text("import no_such_dependency_xyz\n")
    (tmp_path / "bad_syntax.py").write_text("def (:\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def run_ioc(
    *args: str, extra_path: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m ioc ARGS` from the repository (with `extra_path` importable), bounded wait.

    Without `env`: this environment minus `IOC_*`, with server ports of its own (another IOC on
    the machine's default ports must not turn the error under test into a port clash)."""
    if env is None:
        ca, pva = (str(port) for port in free_ports(2))
        env = {k: v for k, v in os.environ.items() if not k.startswith("IOC_")}
        env |= {"EPICS_CA_SERVER_PORT": ca, "EPICS_PVA_SERVER_PORT": pva}
    env = env | {"PYTHONPATH": os.pathsep.join(str(p) for p in (REPO, extra_path) if p)}
    return subprocess.run(
        [sys.executable, "-m", "ioc", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- options ------------------------------------------------------------------------------------


def test_defaults() -> None:
    opts = parse_args([], {})
    assert opts.command == "serve"
    assert opts.root == "sim:SimRoot"
    assert opts.prefix == "SIM"
    assert opts.include is None
    assert opts.exclude is None  # the server's default, NoServe
    assert opts.pvmap is None
    assert opts.dump is None
    assert opts.dump_access is False
    assert opts.log_level == "INFO"
    assert opts.read_period == 0.0


def test_environment() -> None:
    env = {
        "IOC_ROOT": "mylab.daq:DaqRoot",
        "IOC_PREFIX": "LAB:DAQ",
        "IOC_INCLUDE": "Hw, Status",
        "IOC_EXCLUDE": "NoServe,Expert",
        "IOC_PVMAP": "/etc/pvmap.yaml",
        "IOC_DUMP": "/tmp/pvs.txt",
        "IOC_LOG_LEVEL": "debug",
        "IOC_READ_PERIOD": "2.5",
    }
    opts = parse_args([], env)
    assert opts.root == "mylab.daq:DaqRoot"
    assert opts.prefix == "LAB:DAQ"
    assert opts.include == ["Hw", "Status"]
    assert opts.exclude == ["NoServe", "Expert"]
    assert opts.pvmap == "/etc/pvmap.yaml"
    assert opts.dump == "/tmp/pvs.txt"
    assert opts.log_level == "DEBUG"
    assert opts.read_period == 2.5


def test_flags_override_environment() -> None:
    env = {"IOC_PREFIX": "ENV", "IOC_EXCLUDE": "FromEnv", "IOC_READ_PERIOD": "9"}
    opts = parse_args(["--prefix", "FLAG", "--exclude", "A", "--read-period", "1"], env)
    assert opts.prefix == "FLAG"
    assert opts.exclude == ["A"]
    assert opts.read_period == 1.0


def test_dump_access_from_flag_or_environment() -> None:
    assert parse_args(["--dump-access"], {}).dump_access is True
    assert parse_args([], {"IOC_DUMP_ACCESS": "yes"}).dump_access is True
    assert parse_args([], {"IOC_DUMP_ACCESS": "no"}).dump_access is False
    with pytest.raises(SystemExit):
        parse_args([], {"IOC_DUMP_ACCESS": "maybe"})


def test_explicit_serve_command() -> None:
    assert parse_args(["serve", "--prefix", "X"], {}).prefix == "X"


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--exclude", "A"], ["A"]),
        (["--exclude", "A,B", "--exclude", "C"], ["A", "B", "C"]),
        (["--exclude", " A , ,B "], ["A", "B"]),
        (["--exclude", ""], None),
    ],
)
def test_groups_are_repeatable_and_comma_separated(flags: list[str], expected: list[str]) -> None:
    assert parse_args(flags, {}).exclude == expected
    include = [f.replace("--exclude", "--include") for f in flags]
    assert parse_args(include, {}).include == expected


def test_empty_environment_values_mean_default() -> None:
    opts = parse_args([], {"IOC_EXCLUDE": "", "IOC_PVMAP": "", "IOC_DUMP": ""})
    assert (opts.exclude, opts.pvmap, opts.dump) == (None, None, None)


def test_health_options() -> None:
    opts = parse_args(["health"], {"IOC_PREFIX": "LAB"})
    assert (opts.command, opts.prefix, opts.timeout) == ("health", "LAB", 3.0)
    opts = parse_args(["health", "--prefix", "X", "--timeout", "0.5"], {"IOC_PREFIX": "LAB"})
    assert (opts.prefix, opts.timeout) == ("X", 0.5)


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--read-period", "-1"], {}, "--read-period"),
        (["--read-period", "nan"], {}, "--read-period"),
        ([], {"IOC_READ_PERIOD": "soon"}, "'soon'"),
        (["--log-level", "LOUD"], {}, "--log-level"),
        ([], {"IOC_LOG_LEVEL": "chatty"}, "'chatty'"),
        (["--root", "sim.SimRoot"], {}, "MODULE:CLASS"),
        ([], {"IOC_ROOT": "sim:"}, "MODULE:CLASS"),
        (["health", "--timeout", "inf"], {}, "--timeout"),
        (["--no-such-flag"], {}, "--no-such-flag"),
    ],
)
def test_bad_options_exit_2(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv, env)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_settings_lays_the_environment_over_the_defaults() -> None:
    env = settings({"IOC_PREFIX": "LAB", "IOC_READ_PERIOD": "2", "HOME": "/root"})
    assert env == ENV_DEFAULTS | {"IOC_PREFIX": "LAB", "IOC_READ_PERIOD": "2"}


# -- pvmap ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("map.yaml", "root.Version.ScratchPad: LAB:Scratch\nroot.Thermal.Heater: LAB:Heater\n"),
        ("map.yml", "{root.Version.ScratchPad: LAB:Scratch, root.Thermal.Heater: LAB:Heater}"),
        (
            "map.json",
            '{"root.Version.ScratchPad": "LAB:Scratch", "root.Thermal.Heater": "LAB:Heater"}',
        ),
    ],
)
def test_pvmap_yaml_and_json(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    assert load_pvmap(str(tmp_path / name)) == {
        "root.Version.ScratchPad": "LAB:Scratch",
        "root.Thermal.Heater": "LAB:Heater",
    }


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("map.yaml", "a: [unclosed\n", "not valid YAML"),
        ("map.json", '{"a": "B",}', "not valid JSON"),
        ("map.yaml", "- a\n- b\n", "mapping"),
        ("map.yaml", "", "mapping"),
        ("map.json", "{}", "mapping"),
        ("map.yaml", "root.a: 5\n", "'root.a': 5"),
        ("map.yaml", "1: LAB:x\n", "1: 'LAB:x'"),
        ("map.yaml", "root.a: {nested: x}\n", "'root.a'"),
    ],
)
def test_malformed_pvmap(tmp_path: Path, name: str, text: str, message: str) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(CliError, match="pvmap") as err:
        load_pvmap(str(tmp_path / name))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_unreadable_pvmap(tmp_path: Path) -> None:
    with pytest.raises(CliError, match="cannot read pvmap"):
        load_pvmap(str(tmp_path / "missing.yaml"))
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(CliError, match="cannot read pvmap"):
        load_pvmap(str(tmp_path / "binary.yaml"))


# -- loading the Root ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("no_such_module_xyz:Root", "no module named 'no_such_module_xyz'"),
        ("no_such_module_xyz.sub:Root", "no module named 'no_such_module_xyz.sub'"),
        ("imports_missing:Root", "importing 'imports_missing' failed"),
        ("bad_syntax:Root", "importing 'bad_syntax' failed: SyntaxError"),
        ("fake_roots:Missing", "has no attribute 'Missing'"),
        ("fake_roots:not_a_class", "'not_a_class' is a int, not a class"),
    ],
)
def test_root_class_errors(roots: Path, spec: str, message: str) -> None:
    with pytest.raises(CliError) as err:
        load_root_class(spec)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Plain", "not a Root, it lacks variableList, addProtocol, start, stop"),
        ("Almost", "not a Root, it lacks stop"),
        ("Broken", "creating it failed: RuntimeError: no hardware at 10.0.0.1"),
    ],
)
def test_objects_that_are_not_roots(roots: Path, name: str, message: str) -> None:
    spec = f"fake_roots:{name}"
    with pytest.raises(CliError) as err:
        make_root(load_root_class(spec), spec)
    assert message in str(err.value)


# -- the command in a child process --------------------------------------------------------------


def assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    """Exit code 2 and exactly one `rogue-ioc: error:` line on stderr containing `text`."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rogue-ioc: error: ")
    assert text in lines[0]


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("no_such_module_xyz:Root", "no module named"),
        ("fake_roots:Plain", "not a Root"),
        ("fake_roots:Broken", "no hardware"),
        ("json:JSONDecoder", "not a Root"),
        ("json:dumps", "not a class"),
    ],
)
def test_bad_root_exits_2_with_one_line(
    roots: Path, epics_env: dict[str, str], spec: str, text: str
) -> None:
    assert_one_line_error(run_ioc("--root", spec, extra_path=roots, env=epics_env), text)


def test_bad_root_from_environment(roots: Path, epics_env: dict[str, str]) -> None:
    result = run_ioc(extra_path=roots, env=epics_env | {"IOC_ROOT": "fake_roots:Plain"})
    assert_one_line_error(result, "fake_roots:Plain")


@pytest.mark.parametrize(
    ("name", "text"), [("map.yaml", "key: [1,\n  2"), ("map.json", "[1, 2]"), ("map.yaml", "a: 1")]
)
def test_malformed_pvmap_exits_2_with_one_line(
    tmp_path: Path, epics_env: dict[str, str], name: str, text: str
) -> None:
    (tmp_path / name).write_text(text)
    assert_one_line_error(run_ioc("--pvmap", str(tmp_path / name), env=epics_env), "pvmap")


def test_missing_pvmap_exits_2_with_one_line(tmp_path: Path, epics_env: dict[str, str]) -> None:
    result = run_ioc("--pvmap", str(tmp_path / "nope.yaml"), env=epics_env)
    assert_one_line_error(result, "cannot read pvmap")


def test_pvmap_is_checked_before_the_root_is_loaded(
    tmp_path: Path, epics_env: dict[str, str]
) -> None:
    (tmp_path / "map.json").write_text("nonsense")
    args = ["--root", "no_such_module_xyz:Root", "--pvmap", str(tmp_path / "map.json")]
    assert_one_line_error(run_ioc(*args, env=epics_env), "pvmap")


def test_bad_flag_exits_2(epics_env: dict[str, str]) -> None:
    result = run_ioc("--read-period", "-3", env=epics_env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--read-period" in result.stderr


# -- serving and stopping ------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_serves_until_signalled(
    roots: Path,
    epics_env: dict[str, str],
    tmp_path: Path,
    read_until: Callable[[IO[str], str, float], str],
    signum: signal.Signals,
) -> None:
    prefix = f"T{uuid.uuid4().hex[:8]}"
    dump = tmp_path / "pvs.txt"
    args = ["--root", "fake_roots:EmptyRoot", "--prefix", prefix, "--dump", str(dump)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ioc", *args],
        cwd=REPO,
        env=epics_env | {"PYTHONPATH": f"{REPO}{os.pathsep}{roots}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        summary = read_until(proc.stderr, "serving 0 PVs with prefix", 30)
        ca, pva = epics_env["EPICS_CA_SERVER_PORT"], epics_env["EPICS_PVA_SERVER_PORT"]
        assert (
            f"prefix {prefix} from fake_roots:EmptyRoot (CA port {ca}, PVA port {pva})" in summary
        )
        assert dump.exists()
        proc.send_signal(signum)
        _, rest = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, rest
    assert "INFO ioc.cli: stopped" in rest
    assert "Traceback" not in rest


def test_start_error_exits_2_with_one_line(roots: Path, epics_env: dict[str, str]) -> None:
    result = run_ioc("--root", "fake_roots:BadNameRoot", extra_path=roots, env=epics_env)
    assert_one_line_error(result, "'root.My Var'")


def test_pvmap_path_missing_from_the_tree_exits_2(
    roots: Path, epics_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "map.yaml").write_text("root.Nowhere: LAB:Nowhere\n")
    args = ["--root", "fake_roots:EmptyRoot", "--pvmap", str(tmp_path / "map.yaml")]
    result = run_ioc(*args, extra_path=roots, env=epics_env)
    assert_one_line_error(result, "root.Nowhere")


def test_unwritable_dump_exits_2(roots: Path, epics_env: dict[str, str], tmp_path: Path) -> None:
    dump = tmp_path / "no" / "such" / "dir.txt"
    args = ["--root", "fake_roots:EmptyRoot", "--dump", str(dump)]
    result = run_ioc(*args, extra_path=roots, env=epics_env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("rogue-ioc: error: cannot write dump")


def test_dump_is_replaced_whole(tmp_path: Path) -> None:
    """A reader waiting for the dump never sees part of it: it is renamed into place."""
    from ioc.server import write_whole

    dump = tmp_path / "pvs.txt"
    dump.write_text("OLD -> root.Old\n")
    write_whole(str(dump), "A -> root.A\nB -> root.B\n")
    assert dump.read_text() == "A -> root.A\nB -> root.B\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pvs.txt"]


# -- screens ------------------------------------------------------------------------------------


def test_screens_options_are_the_served_ones() -> None:
    env = {"IOC_ROOT": "lab:Root", "IOC_PREFIX": "LAB", "IOC_EXCLUDE": "NoServe,Expert"}
    opts = parse_args(["screens", "--include", "Hw", "--out", "/tmp/s"], env)
    assert (opts.command, opts.root, opts.prefix, opts.out) == (
        "screens",
        "lab:Root",
        "LAB",
        "/tmp/s",
    )
    assert (opts.include, opts.exclude, opts.pvmap) == (["Hw"], ["NoServe", "Expert"], None)


def test_screens_need_an_output_directory() -> None:
    with pytest.raises(SystemExit) as exit_info:
        parse_args(["screens"], {})
    assert exit_info.value.code == 2


def test_screens_of_a_bad_root_exit_2_with_one_line(
    roots: Path, tmp_path: Path, epics_env: dict[str, str]
) -> None:
    out = tmp_path / "screens"
    args = ["screens", "--root", "fake_roots:Plain", "--out", str(out)]
    result = run_ioc(*args, extra_path=roots, env=epics_env)
    assert_one_line_error(result, "not a Root")
    assert not any(out.glob("*"))


def test_screens_with_a_pvmap_naming_missing_paths_exit_2(
    tmp_path: Path, epics_env: dict[str, str]
) -> None:
    pvmap = tmp_path / "map.json"
    pvmap.write_text('{"root.Nowhere.Nothing": "LAB:X"}')
    out = tmp_path / "screens"
    result = run_ioc("screens", "--pvmap", str(pvmap), "--out", str(out), env=epics_env)
    assert_one_line_error(result, "root.Nowhere.Nothing")
    assert not any(out.glob("*"))


# --- capacities and logging ----------------------------------------------------------------------


def test_capacity_options_from_flags_env_and_file(tmp_path: Path) -> None:
    from ioc.cli import load_capacities

    opts = parse_args(["--capacity", "root.A=1k,root.B=2k", "--capacity", "root.C=3"], {})
    assert opts.capacity == ["root.A=1k", "root.B=2k", "root.C=3"]
    env = parse_args([], {"IOC_CAPACITY": "root.*.Data=4M", "IOC_CAPACITY_FILE": "x.yaml"})
    assert env.capacity == ["root.*.Data=4M"]
    assert env.capacity_file == "x.yaml"
    sizes = tmp_path / "sizes.yaml"
    sizes.write_text("root.A: 64k\nroot.B: 100\n")
    assert load_capacities(["root.B=2k"], str(sizes)) == {"root.A": 65536, "root.B": 2048}


@pytest.mark.parametrize(
    ("items", "content", "message"),
    [
        (["root.A"], None, "PATH=SIZE"),
        (["root.A=lots"], None, "not a size"),
        ([], "- a list\n", "must be a mapping"),
        ([], "root.A: 1T\n", "not a size"),
    ],
)
def test_capacity_mistakes_are_cli_errors(tmp_path: Path, items, content, message) -> None:
    from ioc.cli import CliError, load_capacities

    fname = None
    if content is not None:
        fname = str(tmp_path / "sizes.yaml")
        Path(fname).write_text(content)
    with pytest.raises(CliError, match=message):
        load_capacities(items, fname)


def test_log_level_applies_to_the_ioc_loggers_only() -> None:
    import logging

    from ioc.cli import configure_logging

    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("ioc").level)
    try:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
        configure_logging("DEBUG")
        assert logging.getLogger("ioc.server").getEffectiveLevel() == logging.DEBUG
        # pyrogue's logger (mirrored into SystemLog) keeps the tree's own level.
        assert logging.getLogger("pyrogue.Root").getEffectiveLevel() == logging.WARNING
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.setLevel(saved[0])
        for handler in saved[1]:
            root.addHandler(handler)
        logging.getLogger("ioc").setLevel(saved[2])


def test_an_option_with_an_empty_value_counts_as_not_given() -> None:
    env = {"IOC_ROOT": "lab:LabRoot", "IOC_PREFIX": "LAB"}
    opts = parse_args(["serve", "--root=", "--prefix=", "--read-period="], env)
    assert (opts.root, opts.prefix, opts.read_period) == ("lab:LabRoot", "LAB", 0.0)
    assert parse_args(["health", "--prefix="], env).prefix == "LAB"
    assert parse_args(["--prefix=OPS"], env).prefix == "OPS"


@pytest.mark.parametrize(("value", "allowed"), [("yes", True), ("NO", False), ("1", True)])
def test_port_fallback_from_the_environment(value: str, allowed: bool) -> None:
    assert parse_args([], {"IOC_PORT_FALLBACK": value}).allow_port_fallback is allowed
    assert parse_args(["--allow-port-fallback"], {"IOC_PORT_FALLBACK": "no"}).allow_port_fallback


# --- the option table ----------------------------------------------------------------------------


def test_every_option_and_variable_is_in_the_readme() -> None:
    from ioc.options import documented

    assert documented((REPO / "README.md").read_text()) == []


@pytest.mark.parametrize("variable", ["IOC_READ_ONLY", "IOC_SIMULATE_PYROGUE", "IOC_PORT_FALLBACK"])
def test_switches_take_yes_or_no_only(variable: str, capsys: pytest.CaptureFixture[str]) -> None:
    flag = {"IOC_PORT_FALLBACK": "allow_port_fallback"}.get(variable, variable[4:].lower())
    assert getattr(parse_args([], {variable: "on"}), flag) is True
    assert getattr(parse_args([], {variable: "0"}), flag) is False
    assert getattr(parse_args([], {variable: ""}), flag) is False
    with pytest.raises(SystemExit) as exc:
        parse_args([], {variable: "maybe"})
    assert exc.value.code == 2
    assert variable in capsys.readouterr().err
