"""The `rogue-ioc` command: serve a Root over CA and PVA, or check a running IOC.

`rogue-ioc [serve] [options]` loads the Root, starts an `EpicsPvServer` on it and serves until
SIGTERM/SIGINT; `rogue-ioc health` exits 0 when the IOC's heartbeat answers on both protocols;
`rogue-ioc config save|load FILE` has a running IOC write or apply a settings file in its
autosave directory; `rogue-ioc get|put|monitor|list` are the client commands of `ioc.clients`.
Every option (declared in `ioc.options`) also comes from an `IOC_*` environment variable; a flag
overrides it, and a flag
with an empty value (`--root=`) counts as not given. Mistakes in the configuration are one line
on stderr and exit code 2. When the network interface is replaced (a container's network
reconnected), the IOC stops with exit code 3 so that it is restarted (see `ioc.netwatch`).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ioc import clients, options
from ioc.naming import prefix_problem
from ioc.netwatch import EXIT_NETWORK_CHANGED, InterfaceWatch, watch_wanted
from ioc.options import settings
from ioc.tree import Root

if TYPE_CHECKING:
    from ioc.server import EpicsPvServer

PROG = "rogue-ioc"
COMMANDS = ("serve", "health", "screens", "config", *clients.COMMANDS)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ROOT_API = ("variableList", "addProtocol", "start", "stop")
"""Attributes a Root must have to be served (see `ioc.tree.Root`)."""

STOP_TIMEOUT = 8.0
"""Seconds from a stop signal to process exit before the exit is forced (docker stop waits 10)."""

log = logging.getLogger(__name__)


class CliError(Exception):
    """A configuration mistake, reported as one line on stderr with exit code 2."""


def one_line(text: object) -> str:
    """`text` as one line: its non-empty lines joined with '; '."""
    return "; ".join(line.strip() for line in str(text).splitlines() if line.strip())


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """The argument parser, with defaults taken from `env` (see `options.settings`)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Serve a PyRogue tree over EPICS Channel Access and PV Access.",
        epilog=f"Without a command, {PROG} runs 'serve'. See '{PROG} serve -h'.",
    )
    commands = parser.add_subparsers(dest="command", metavar=f"{{{','.join(COMMANDS)}}}")
    serve = commands.add_parser("serve", help="run the IOC (the default)")
    health = commands.add_parser("health", help="check a running IOC; exit 0 healthy, 1 not")
    screens = commands.add_parser(
        "screens", help="write Phoebus (.bob) and PyDM (.ui) screens of the served PVs"
    )
    config = commands.add_parser(
        "config",
        help="have a running IOC save its settings to, or load them from, FILE in its "
        "autosave directory",
    )
    config.add_argument("action", choices=("save", "load"))
    config.add_argument("file", metavar="FILE", help="a .yml/.yaml file name (no directory)")
    subparsers = {"serve": serve, "health": health, "screens": screens, "config": config}
    subparsers |= clients.add_parsers(commands)
    for command, subparser in subparsers.items():
        options.add_options(subparser, command, env)
    screens.add_argument(
        "--out", required=True, metavar="DIR", help="directory for the screens (created)"
    )
    return parser


def parse_args(argv: Sequence[str], environ: Mapping[str, str]) -> argparse.Namespace:
    """Options from `argv` over `environ`; group lists are flattened, empty strings are None."""
    env = settings(environ)
    # `--option=` with nothing after '=' counts as not given (compose passes unset variables so).
    args = [arg for arg in argv if not (arg.startswith("--") and arg.endswith("="))]
    if not args or args[0] not in (*COMMANDS, "-h", "--help"):
        args.insert(0, "serve")
    parser = build_parser(env)
    opts = parser.parse_args(args)
    try:
        options.finish(opts, env)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    return opts


def load_mapping(fname: str, what: str) -> Any:
    """The data of a YAML or JSON (`.json`) file; `what` names the file in errors."""
    try:
        text = Path(fname).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {what} {fname}: {exc}") from exc
    is_json = fname.lower().endswith(".json")
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if is_json else "YAML"
        raise CliError(f"{what} {fname} is not valid {kind}: {_parse_error(exc)}") from exc


def load_capacities(items: Sequence[str] | None, fname: str | None) -> dict[str, int]:
    """`{path pattern: bytes}` from a capacity file with `PATH=SIZE` items laid over it."""
    from ioc.capacity import parse_items, parse_size

    result: dict[str, int] = {}
    if fname:
        data = load_mapping(fname, "capacity file")
        if not isinstance(data, dict):
            raise CliError(f"capacity file {fname} must be a mapping of variable path to size")
        try:
            result = {str(path): parse_size(str(size)) for path, size in data.items()}
        except ValueError as exc:
            raise CliError(f"capacity file {fname}: {exc}") from exc
    try:
        return result | parse_items(items or [])
    except ValueError as exc:
        raise CliError(f"--capacity: {exc}") from exc


def load_pvmap(fname: str) -> dict[str, str]:
    """The `{variable path: PV name}` mapping in a YAML or JSON (`.json`) file."""
    data = load_mapping(fname, "pvmap")
    if not isinstance(data, dict) or not data:
        raise CliError(f"pvmap {fname} must be a non-empty mapping of variable path to PV name")
    bad = [
        f"{k!r}: {v!r}" for k, v in data.items() if not (isinstance(k, str) and isinstance(v, str))
    ]
    if bad:
        raise CliError(
            f"pvmap {fname}: entries must map a path string to a name string: {', '.join(bad)}"
        )
    return data


def _parse_error(exc: Exception) -> str:
    """One line saying what a JSON or YAML parser found wrong, and where."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return one_line(exc)


def load_root_class(spec: str) -> type:
    """The class named by `spec` (`MODULE:CLASS`)."""
    module_name, _, class_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            raise CliError(f"root {spec}: no module named {module_name!r}") from exc
        raise CliError(f"root {spec}: importing {module_name!r} failed: {exc}") from exc
    except Exception as exc:  # any failure of the user's module is a configuration error
        raise CliError(f"root {spec}: importing {module_name!r} failed: {_describe(exc)}") from exc
    try:
        cls = getattr(module, class_name)
    except AttributeError as exc:
        raise CliError(
            f"root {spec}: module {module_name!r} has no attribute {class_name!r}"
        ) from exc
    if not inspect.isclass(cls):
        raise CliError(f"root {spec}: {class_name!r} is a {type(cls).__name__}, not a class")
    return cls


def make_root(cls: type, spec: str, simulate: bool = False) -> Root:
    """An instance of the Root class `cls`, checked for the Root API the server uses.

    With `simulate`, `cls` may also be a Device class, served on emulated memory.
    """
    try:
        if simulate:
            from sim.pyrogue_shim import simulatedRoot

            root = simulatedRoot(cls)
        else:
            root = cls()
    except Exception as exc:  # any failure of the user's constructor is a configuration error
        log.debug("creating %s failed", spec, exc_info=True)
        raise CliError(f"root {spec}: creating it failed: {_describe(exc)}") from exc
    missing = [name for name in ROOT_API if not _has_attribute(root, name)]
    if missing:
        raise CliError(f"root {spec}: not a Root, it lacks {', '.join(missing)}")
    return root


def _has_attribute(obj: object, name: str) -> bool:
    """True when `obj` has `name`, without evaluating a property."""
    try:
        inspect.getattr_static(obj, name)
    except AttributeError:
        return False
    return True


def _describe(exc: BaseException) -> str:
    """One line naming an exception and its message."""
    message = one_line(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def start_server(
    root: Root, opts: argparse.Namespace, pvmap: dict[str, str] | None
) -> EpicsPvServer:
    """An `EpicsPvServer` on `root`, started with the Root; a failed start stops the Root."""
    from ioc.access import AccessError, AccessSecurity, parse_asg_rule
    from ioc.autosave import Autosave
    from ioc.server import EpicsPvServer

    autosave = None
    if opts.autosave:
        check_autosave_file(opts.autosave)
        autosave = Autosave(opts.autosave, period=opts.autosave_period)
    try:
        security = AccessSecurity(
            opts.acf, opts.read_only, tuple(parse_asg_rule(rule) for rule in opts.asg or ())
        )
        security.rules_text()  # an unreadable file is an error now, not after the Root started
    except AccessError as exc:
        raise CliError(str(exc)) from exc
    server = EpicsPvServer(
        base=opts.prefix,
        root=root,
        incGroups=opts.include,
        excGroups=opts.exclude,
        pvMap=pvmap,
        readPeriod=opts.read_period,
        autosave=autosave,
        accessSecurity=security,
        capacities=load_capacities(opts.capacity, opts.capacity_file),
    )
    try:
        root.start()
    except BaseException:
        if root.running:
            stop_root(root)
        raise
    return server


def check_autosave_file(fname: str) -> None:
    """The autosave file must be a .yml/.yaml file in a writable directory (it is replaced)."""
    path = Path(fname)
    if path.suffix not in (".yml", ".yaml"):
        raise CliError(f"autosave file {fname} must end in .yml or .yaml")
    if path.is_dir():
        raise CliError(f"autosave file {fname} is a directory")
    directory = path.parent
    if not directory.is_dir():
        raise CliError(f"autosave directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CliError(f"autosave directory {directory} is not writable")


def stop_root(root: Root) -> None:
    """Stop `root`; the process is forced to exit if stopping and exiting take too long."""
    force_exit_after(STOP_TIMEOUT)
    root.stop()


def stop_on_signals() -> threading.Event:
    """An Event set by SIGTERM or SIGINT (installed for the rest of the process)."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def force_exit_after(timeout: float) -> None:
    """Exit the process with code 1 if it is still alive `timeout` seconds from now."""

    def force() -> None:
        log.error("stop did not finish within %g s; forcing exit", timeout)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(timeout, force)
    timer.daemon = True
    timer.start()


def configure_logging(level: str) -> None:
    """Log to stderr; `level` applies to the IOC's own loggers (`ioc`) only.

    The root logger keeps Python's default level (WARNING), as when the tree runs on its own:
    pyrogue mirrors what reaches its `pyrogue` logger into the Root's SystemLog, so lowering the
    root level would fill SystemLog with the tree's INFO/DEBUG lines.
    """
    logging.basicConfig(format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger("ioc").setLevel(level)


def serve(opts: argparse.Namespace) -> int:
    """Serve the Root until SIGTERM/SIGINT; returns the exit code."""
    problem = prefix_problem(opts.prefix)
    if problem:
        raise CliError(problem)
    if not opts.allow_port_fallback:
        check_ports_free()
    pvmap = load_pvmap(opts.pvmap) if opts.pvmap else None
    load_capacities(opts.capacity, opts.capacity_file)  # a mistake fails before the Root starts
    configure_logging(opts.log_level)
    if opts.simulate_pyrogue:
        from sim.pyrogue_shim import install

        install()
    root_class = load_root_class(opts.root)
    root = make_root(root_class, opts.root, opts.simulate_pyrogue)
    stop = stop_on_signals()
    try:
        server = start_server(root, opts, pvmap)
    except ValueError as exc:
        raise CliError(f"cannot serve {opts.root}: {one_line(exc)}") from exc
    try:
        bound = ports_bound(opts.allow_port_fallback)
        if opts.dump:
            _dump(server, opts.dump, opts.dump_access)
        log.info(
            "serving %d PVs with prefix %s from %s (CA port %s, PVA port %s)",
            len(server.list()),
            opts.prefix,
            opts.root,
            bound["CA"] or "unknown",
            bound["PVA"] or "unknown",
        )
        watch = InterfaceWatch(lambda reason: stop.set(), watch_wanted(os.environ))
        stop.wait()
        watch.close()
        if watch.reason:
            log.error("%s; exiting with code %d", watch.reason, EXIT_NETWORK_CHANGED)
        log.info("stopping")
    finally:
        stop_root(root)
    log.info("stopped")
    return EXIT_NETWORK_CHANGED if watch.reason else 0


def check_ports_free() -> None:
    """Refuse to start when a configured CA or PVA server port is taken."""
    from ioc import ports

    try:
        ports.check_free(os.environ)
    except (ports.PortTaken, ValueError) as exc:
        raise CliError(str(exc)) from exc


def ports_bound(fallback_allowed: bool) -> dict[str, int | None]:
    """The ports the running servers bound; without ``fallback_allowed`` they must be the
    configured ones (a port taken between the check and the bind is still an error)."""
    from ioc import ports
    from ioc._softioc import ca_server_port

    bound = ports.bound_ports(ca_server_port())
    wanted = ports.configured_ports(os.environ)
    moved = [f"{p} port {wanted[p]} (now {bound[p]})" for p in wanted if bound[p] != wanted[p]]
    if moved and not fallback_allowed:
        raise CliError(
            f"{', '.join(moved)} was taken while the IOC started; start it again, or accept "
            "EPICS's fallback to a random port with --allow-port-fallback"
        )
    if moved:
        log.warning("configured port not available, serving on another: %s", ", ".join(moved))
    return bound


def _dump(server: EpicsPvServer, fname: str, access: bool) -> None:
    """Write the server's PV list to `fname`, each line with the PV's access if `access`."""
    try:
        server.dump(fname, access=access)
    except OSError as exc:
        raise CliError(f"cannot write dump {fname}: {exc}") from exc


def health(opts: argparse.Namespace) -> int:
    """Check the IOC serving `opts.prefix`; prints one line, returns 0 healthy, 1 not."""
    from ioc.health import check

    healthy, why = check(opts.prefix, opts.timeout)
    print(why)
    return 0 if healthy else 1


def screens(opts: argparse.Namespace) -> int:
    """Write the screens (needs the `screens` extras); returns the exit code."""
    try:
        from ioc.screens.generate import run
    except ImportError as exc:
        raise CliError(
            f"screens need pvi and pydm ({exc.name} is missing): pip install 'rogue-ioc[screens]'"
        ) from exc
    logging.basicConfig(level=logging.WARNING, format=LOG_FORMAT, stream=sys.stderr)
    return run(opts)


def config(opts: argparse.Namespace) -> int:
    """Have the IOC serving `opts.prefix` save or load a settings file; 0 when it did."""
    from ioc.configclient import run

    done, text = run(opts.prefix, opts.action, opts.file, opts.timeout)
    print(text)
    return 0 if done else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `rogue-ioc` and `python -m ioc`; returns the exit code."""
    opts = parse_args(sys.argv[1:] if argv is None else argv, os.environ)
    try:
        if opts.command == "health":
            return health(opts)
        if opts.command == "screens":
            return screens(opts)
        if opts.command == "config":
            return config(opts)
        if opts.command in clients.COMMANDS:
            return clients.run(opts)
        return serve(opts)
    except CliError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
