"""IP and CIDR checks with Kubernetes' "sloppy" parsing (k8s.io/utils/net ParseIPSloppy).

Like Go's pre-1.17 net.ParseIP, IPv4 octets may carry leading zeros ("010.1.1.1" is
10.1.1.1), and IPv4-mapped IPv6 counts as IPv4.  Zones ("fe80::1%eth0") are refused.
"""

from __future__ import annotations

import functools
import ipaddress

from tinykube.api.errors import Cause

from .fields import invalid

IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(value: str) -> Address | None:
    """The address, IPv4-mapped IPv6 unwrapped to IPv4; None if not an IP."""
    if not isinstance(value, str) or not value or "%" in value or "/" in value:
        return None
    return _parse_ip_text(value)


@functools.lru_cache(maxsize=4096)  # pure; every pod status write checks its pod and host IPs
def _parse_ip_text(value: str) -> Address | None:
    if ":" not in value:
        return _parse_ipv4_sloppy(value)
    try:
        address = ipaddress.IPv6Address(value)
    except ValueError:
        return None
    return address.ipv4_mapped or address


def _parse_ipv4_sloppy(value: str) -> ipaddress.IPv4Address | None:
    parts = value.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() for p in parts):
        return None
    octets = [int(p) for p in parts]
    if any(o > 255 for o in octets):
        return None
    a, b, c, d = octets
    return ipaddress.IPv4Address((a << 24) | (b << 16) | (c << 8) | d)  # from an int: no reparsing


def parse_cidr(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """Like net.ParseCIDR: host bits may be set; the prefix length must fit the family."""
    if not isinstance(value, str) or value.count("/") != 1:
        return None
    ip_text, bits = value.split("/")
    address = parse_ip(ip_text)
    if address is None or not (bits.isascii() and bits.isdigit()) or len(bits) > 3:
        return None
    if ":" in ip_text and isinstance(address, ipaddress.IPv4Address):
        address = ipaddress.IPv6Address("::ffff:" + str(address))
    try:
        return ipaddress.ip_network(f"{address}/{int(bits)}", strict=False)
    except ValueError:
        return None


def is_valid_ip(value: str) -> bool:
    return parse_ip(value) is not None


def is_ipv6(value: str) -> bool:
    return isinstance(parse_ip(value), ipaddress.IPv6Address)


def ip_causes(path: str, value: str) -> list[Cause]:
    return [] if is_valid_ip(value) else [invalid(path, value, IP_MSG)]


def cidr_causes(path: str, value: str) -> list[Cause]:
    return [] if parse_cidr(value) is not None else [invalid(path, value, CIDR_MSG)]


def ipv4_causes(path: str, value: str) -> list[Cause]:
    if isinstance(parse_ip(value), ipaddress.IPv4Address):
        return []
    return [invalid(path, value, "must be a valid IPv4 address")]


def ipv6_causes(path: str, value: str) -> list[Cause]:
    if isinstance(parse_ip(value), ipaddress.IPv6Address) and ":" in value:
        return []
    return [invalid(path, value, "must be a valid IPv6 address")]


def non_special_ip_causes(path: str, value: str) -> list[Cause]:
    """ValidateNonSpecialIP / ValidateEndpointIP: no unspecified, loopback, link-local."""
    address = parse_ip(value)
    if address is None:
        return [invalid(path, value, "must be a valid IP address")]
    checks = (
        (address.is_unspecified, f"may not be unspecified ({value})"),
        (address.is_loopback, "may not be in the loopback range (127.0.0.0/8, ::1/128)"),
        (_is_link_local_unicast(address), "may not be in the link-local range (169.254.0.0/16, fe80::/10)"),
        (_is_link_local_multicast(address),
         "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"),
    )
    return [invalid(path, value, msg) for bad, msg in checks if bad]


def _is_link_local_unicast(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return address in ipaddress.ip_network("169.254.0.0/16")
    return address in ipaddress.ip_network("fe80::/10")


def _is_link_local_multicast(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv4Address):
        return address in ipaddress.ip_network("224.0.0.0/24")
    return address.is_multicast and (address.packed[1] & 0x0F) == 0x02


def is_dual_stack(values: list[str]) -> bool:
    """Exactly one IPv4 and one IPv6 among (valid) IPs or CIDRs."""
    families = {_family(v) for v in values}
    return families == {4, 6} and len(values) == 2


def _family(value: str) -> int:
    text = value.split("/")[0]
    return 6 if is_ipv6(text) or (":" in text) else 4
