"""Unit tests of the pure parts of operations: name list packing, port settings and /proc
parsing, the prefix check, the LastRefusal text."""

import socket

import pytest

from ioc import namelist, ports
from ioc.naming import NamingError, plan_names, prefix_problem
from ioc.status import CUT_MARK, fit, refusal_text


def test_a_hundred_thousand_names_round_trip_in_chunks_a_ca_client_can_read() -> None:
    names = [f"LAB:root:Detector{i // 1000}:Channel{i % 1000}:Threshold" for i in range(100_000)]
    chunks = namelist.pack(names)
    assert all(len(chunk) <= namelist.CHUNK_BYTES < 16384 for chunk in chunks)
    assert 1 < len(chunks) < 100
    assert namelist.unpack(chunks, len(names)) == sorted(names)


def test_a_missing_chunk_or_a_wrong_count_is_an_error() -> None:
    names = [f"N{i:06d}:{i * 7919 % 1000003}" for i in range(60_000)]
    chunks = namelist.pack(names)
    assert len(chunks) > 1
    with pytest.raises(namelist.NameListError, match="incomplete"):
        namelist.unpack(chunks[:-1], len(names))
    with pytest.raises(namelist.NameListError, match="counts 5"):
        namelist.unpack(chunks, 5)
    with pytest.raises(namelist.NameListError, match="decompress"):
        namelist.unpack([b"not zlib"], 1)


def test_no_names_pack_into_one_chunk() -> None:
    assert namelist.unpack(namelist.pack([]), 0) == []


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {"CA": 5064, "PVA": 5075}),
        (
            {"EPICS_CA_SERVER_PORT": "6064", "EPICS_PVA_SERVER_PORT": "6075"},
            {"CA": 6064, "PVA": 6075},
        ),
        (
            {"EPICS_CA_SERVER_PORT": "6064", "EPICS_CAS_SERVER_PORT": "7064"},
            {"CA": 7064, "PVA": 5075},
        ),
        (
            {"EPICS_PVAS_SERVER_PORT": "7075", "EPICS_PVA_SERVER_PORT": " "},
            {"CA": 5064, "PVA": 7075},
        ),
    ],
)
def test_configured_ports_follow_epics_precedence(environ: dict, expected: dict) -> None:
    assert ports.configured_ports(environ) == expected


@pytest.mark.parametrize("text", ["0", "65536", "abc", "-1"])
def test_a_bad_port_setting_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match="EPICS_CA_SERVER_PORT"):
        ports.configured_ports({"EPICS_CA_SERVER_PORT": text})


def test_interfaces_default_to_all() -> None:
    assert ports.interfaces({}, "CA") == ["0.0.0.0"]
    given = {"EPICS_CAS_INTF_ADDR_LIST": "10.0.0.5 127.0.0.1:5064"}
    assert ports.interfaces(given, "CA") == ["10.0.0.5", "127.0.0.1"]


TCP_TABLE = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:13C8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1
   1: 0100007F:C350 0100007F:13C8 01 00000000:00000000 00:00000000 00000000     0        0 4343 1
"""
TCP6_TABLE = (
    "  sl  local_address                         remote_address                        st\n"
    "   0: 00000000000000000000000001000000:13D3 00000000000000000000000000000000:0000 0A "
    "00000000:00000000 00:00000000 00000000     0        0 77 1\n"
)


def test_proc_tcp_tables_are_parsed() -> None:
    first, second = ports.parse_tcp_table(TCP_TABLE)
    assert first == ports.Socket("0.0.0.0", 5064, ports.LISTEN, 4242)
    assert first.reachable_at == "127.0.0.1"
    assert (second.address, second.port, second.state) == ("127.0.0.1", 50000, "01")
    [six] = ports.parse_tcp_table(TCP6_TABLE)
    assert (six.address, six.port, six.reachable_at) == ("::1", 5075, "::1")


def test_a_port_held_by_this_process_names_it() -> None:
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        held.listen(1)
        port = held.getsockname()[1]
        assert not ports.can_bind("0.0.0.0", port)
        with pytest.raises(
            ports.PortTaken, match=rf"CA port {port} \(TCP\) is taken by pid \d+ \("
        ):
            ports.check_free({"EPICS_CA_SERVER_PORT": str(port), "EPICS_PVA_SERVER_PORT": "1"})


def test_a_prefix_ending_in_a_colon_is_refused() -> None:
    assert prefix_problem("LAB") is None
    problem = prefix_problem("LAB:")
    assert problem is not None and "ends with ':'" in problem and "'LAB'" in problem
    with pytest.raises(NamingError, match="ends with"):
        plan_names("LAB:", {"root.A": "LAB::root:A"})


def test_last_refusal_text_is_one_bounded_line() -> None:
    text = refusal_text(0.0, "P:X", list(range(1000)), "too\nlong " * 500)
    assert text.startswith("1970-01-01T00:00:00Z P:X: put of [0, 1, 2")
    assert "\n" not in text and len(text.encode()) <= 1023 and text.endswith(CUT_MARK)
    assert fit("short", 10) == "short"
    assert fit("é" * 10, 9) == "é" + CUT_MARK
