"""IP scope decisions against Python's ``ipaddress`` (the reference StarCoder's pipeline used)."""

from __future__ import annotations

import ipaddress
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from sctool.pii import detect_pii

DNS = {"8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "76.76.19.19", "76.223.122.150", "9.9.9.9", "149.112.112.112",
       "208.67.222.222", "208.67.220.220", "8.26.56.26", "8.20.247.20", "94.140.14.14", "94.140.15.15", "4.2.2.1",
       "4.2.2.2", "64.6.64.6", "64.6.65.6", "1.1.1.2", "1.0.0.2", "9.9.9.10", "149.112.112.10", "185.228.168.9",
       "76.76.2.0", "2001:4860:4860::8888", "2001:4860:4860::8844", "2606:4700:4700::1111", "2606:4700:4700::1001",
       "2620:fe::fe", "2620:fe::9", "2620:119:35::35", "2620:119:53::53"}


# IANA special-purpose blocks that ``is_global`` (3.11) still calls global; 6to4 and the second
# documentation block for IPv6 (docs/pii.md, "IP addresses").
SPECIAL = [ipaddress.ip_network(n) for n in ("192.88.99.0/24", "192.31.196.0/24", "192.175.48.0/24",
                                               "192.52.193.0/24", "2002::/16", "3fff::/20")]


def placeholder_v4(ip: ipaddress.IPv4Address) -> bool:
    """Tutorial addresses: all octets equal, counting up or down, a digit walk, or 11.22.33.44-style."""
    o = list(ip.packed)
    if len(set(o)) == 1 or all(b == a + 1 for a, b in pairwise(o)) or all(a == b + 1 for a, b in pairwise(o)):
        return True
    d = "".join(map(str, o))
    walk = all(int(b) == int(a) + 1 or (a, b) == ("9", "0") for a, b in pairwise(d))
    return walk or (all(x >= 11 and x % 11 == 0 for x in o) and o == sorted(set(o)))


def expected(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Reference: globally routable, not multicast, not a public resolver (IPv6: global unicast only),
    not special-purpose, not a placeholder, not a network address (IPv4 host part `.0`, an IPv6 prefix
    written with a trailing `::`)."""
    if str(ip) in DNS or ip.is_multicast or not ip.is_global or any(ip in n for n in SPECIAL if n.version == ip.version):
        return False
    if (ip.version == 4 and ip.packed[3] == 0) or (ip.version == 6 and ip.compressed.endswith("::")):
        return False
    if ip.version == 4:
        return not placeholder_v4(ip)
    return ip in ipaddress.ip_network("2000::/3")


def reported(text: str, value: str) -> bool:
    (spans,) = detect_pii([text])
    return any(text[s.start : s.end] == value and s.type == "IP_ADDRESS" for s in spans)


special_v4 = st.sampled_from(["10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
                              "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
                              "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "0.0.0.0/8"])


@settings(deadline=None)
@given(st.one_of(st.integers(0, 2**32 - 1).map(ipaddress.IPv4Address),
                 st.tuples(special_v4, st.integers(0, 2**16)).map(
                     lambda t: ipaddress.ip_network(t[0])[t[1] % ipaddress.ip_network(t[0]).num_addresses]),
                 st.sampled_from(sorted(a for a in DNS if "." in a)).map(ipaddress.IPv4Address)))
def test_ipv4_scope_matches_ipaddress(ip):
    value = str(ip)
    assert reported(f"upstream host = {value}\n", value) == expected(ip), value


@settings(deadline=None)
@given(st.one_of(st.integers(0, 2**128 - 1).map(ipaddress.IPv6Address),
                 st.integers(0, 2**125 - 1).map(lambda x: ipaddress.IPv6Address((1 << 125) | x)),
                 st.sampled_from(["2001:db8::1", "2001:0:1::5", "fe80::1", "fd00::7", "ff02::1", "::1", "::",
                                  *sorted(a for a in DNS if ":" in a)]).map(ipaddress.IPv6Address)))
def test_ipv6_scope_matches_ipaddress(ip):
    value = ip.compressed
    assert reported(f"upstream host = {value}\n", value) == expected(ip), value
