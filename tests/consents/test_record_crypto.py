"""IP desensitization: what is kept of an address before it is hashed, and what is refused."""

from __future__ import annotations

import ipaddress
import random

import pytest

from consent_service.consents.record_crypto import desensitize_ip, truncate_ip


@pytest.mark.parametrize(("address", "network"), [
    ("203.0.113.77", "203.0.113.0/24"),
    (" 10.1.2.3 ", "10.1.2.0/24"),
    ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"),  # IPv4-mapped: the IPv4 network
    ("fe80::1%eth0", "fe80::/48"),
    ("::1", "::/48"),
    ("::", "::/48"),
    # IPv6 addresses that carry a client's IPv4 address: bucketed by its /24, not one /48 for all.
    ("64:ff9b::198.51.100.9", "198.51.100.0/24"),  # NAT64
    ("64:ff9b::c633:6409", "198.51.100.0/24"),
    ("64:ff9b:1:c633:64:900::", "198.51.100.0/24"),  # NAT64, local-use /48 prefix
    ("::198.51.100.9", "198.51.100.0/24"),  # IPv4-compatible
    ("2002:c633:6409::1", "198.51.100.0/24"),  # 6to4
    ("2001:0:4136:e378:8000:63bf:39cc:9bf6", "198.51.100.0/24"),  # Teredo: client 198.51.100.9
])
def test_addresses_are_cut_to_their_network(address, network):
    assert truncate_ip(address) == network


@pytest.mark.parametrize("address", ["", "unknown", "1.2.3", "256.1.1.1", "01.2.3.4", "1.2.3.4/24",
                                     "2001:db8::g", "1.2.3.4\x00", "::ffff:1.2.3"])
def test_anything_else_is_not_an_address(address):
    assert truncate_ip(address) is None
    assert desensitize_ip(address, "pepper") is None


def test_same_networks_as_the_ipaddress_module():
    picker = random.Random(7)
    for _ in range(2000):
        if picker.random() < 0.5:
            address = ipaddress.IPv4Address(picker.getrandbits(32))
            expected = ipaddress.ip_network(f"{address}/24", strict=False)
        else:
            address = ipaddress.IPv6Address(picker.getrandbits(128) & ~(picker.getrandbits(128)))
            expected = ipaddress.ip_network(f"{address}/48", strict=False)
            embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
            if embedded:
                expected = ipaddress.ip_network(f"{embedded}/24", strict=False)
        assert truncate_ip(str(address)) == str(expected)


def test_clients_behind_one_nat64_gateway_get_buckets_of_their_own():
    first, second = desensitize_ip("64:ff9b::203.0.113.7", "p"), desensitize_ip("64:ff9b::198.51.100.7", "p")
    assert first != second and first == desensitize_ip("203.0.113.99", "p")


def test_the_hash_is_keyed_and_shared_within_a_network():
    same = desensitize_ip("192.0.2.1", "pepper")
    assert same == desensitize_ip("192.0.2.254", "pepper") and len(same) == 64
    assert same != desensitize_ip("192.0.3.1", "pepper")
    assert same != desensitize_ip("192.0.2.1", "other pepper")
