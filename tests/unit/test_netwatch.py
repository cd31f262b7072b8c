"""The network watch's decisions: when a replaced interface must restart the IOC."""

import ipaddress

from ioc.netwatch import (
    Interface,
    default_route_names,
    ipv4_interfaces,
    replaced,
    watch_wanted,
)

ETH0 = Interface("eth0", 2, "172.21.255.255")
ETH1 = Interface("eth1", 88, "172.21.255.255")
ROUTES = """Iface	Destination	Gateway	Flags	RefCnt	Use	Metric	Mask	MTU	Window	IRTT
eth1	00000000	010015AC	0003	0	0	0	00000000	0	0	0
eth1	000015AC	00000000	0001	0	0	0	0000FFFF	0	0	0
br-1	00001BAC	00000000	0001	0	0	0	0000FFFF	0	0	0
"""


def test_reconnected_network_is_a_replacement() -> None:
    """Docker gives a reconnected network a new interface, often under a new name."""
    assert replaced(ETH0, ETH1, {1, 88}) == "eth0 (2) replaced by eth1 (88)"
    assert replaced(ETH0, Interface("eth0", 9, None), {1, 9}) == "eth0 (2) replaced by eth0 (9)"
    assert replaced(None, ETH1, {1, 88}) == "no network replaced by eth1 (88)"


def test_other_interfaces_do_not_count() -> None:
    assert replaced(ETH0, ETH0, {1, 2, 40}) is None  # a bridge came: not the default route
    assert replaced(ETH0, ETH1, {1, 2, 88}) is None  # default route moved, eth0 still there
    assert replaced(ETH0, None, {1}) is None  # the network is gone: nothing to serve yet


def test_default_route_names() -> None:
    assert default_route_names(ROUTES) == ["eth1"]
    assert default_route_names(ROUTES.replace("0003", "0002")) == []  # a route that is down


def test_watch_wanted() -> None:
    assert watch_wanted({}) is True
    assert watch_wanted({"IOC_NETWORK_WATCH": "0"}) is False
    assert watch_wanted({"IOC_NETWORK_WATCH": "off"}) is False


def test_interfaces_are_up_ipv4_and_not_loopback() -> None:
    for interface in ipv4_interfaces():
        assert interface.name != "lo" and interface.index > 0
        if interface.broadcast:
            assert not ipaddress.IPv4Address(interface.broadcast).is_loopback
