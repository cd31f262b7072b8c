"""sim.ports: test and benchmark IOCs get ports that no client connection can take meanwhile."""

from __future__ import annotations

import socket

import pytest

from sim.ports import LOWEST, candidate_ports, ephemeral_range, free_ports


def test_ephemeral_range_reads_the_kernel_file_format():
    assert ephemeral_range("32768\t60999\n") == range(32768, 61000)


@pytest.mark.parametrize(
    ("ephemeral", "candidates"),
    [
        ("32768 60999", range(LOWEST, 32768)),  # Linux's default: the ports below it
        ("1024 49151", range(49152, 65536)),  # little room below: the ports above it
    ],
)
def test_candidates_lie_outside_the_ephemeral_range(ephemeral, candidates):
    assert candidate_ports(ephemeral_range(ephemeral)) == candidates


def test_free_ports_are_distinct_outside_the_ephemeral_range_and_bindable():
    picked = free_ports(4) + free_ports(4)
    assert len(set(picked)) == 8, "a port was handed out twice"
    ephemeral = ephemeral_range()
    assert not [port for port in picked if port in ephemeral]
    for port in picked:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("", port))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("", port))
