"""Reading a machine's own addresses from ``ip -o addr show``."""

from __future__ import annotations

from custom_components.spark_audio.spark.remote.addresses import parse_ip_addr

# What a DGX Spark with Wi-Fi, a wired link and Docker prints (addresses made up).
IP_O_ADDR = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
1: lo    inet6 ::1/128 scope host noprefixroute \\       valid_lft forever preferred_lft forever
2: enP7s7    inet 192.168.1.23/24 brd 192.168.1.255 scope global dynamic enP7s7\\ valid_lft 86000sec
2: enP7s7    inet6 FE80::1A2B:3C4D:5E6F:7A8B/64 scope link \\       valid_lft forever
5: docker0    inet 172.17.0.1/16 brd 172.17.255.255 scope global docker0\\       valid_lft forever
"""


def test_every_family_and_loopback_is_listed_canonically() -> None:
    """IPv4, IPv6 (lower case, as normalise_ip writes it) and loopback; prefixes dropped."""
    assert parse_ip_addr(IP_O_ADDR) == {
        "127.0.0.1",
        "::1",
        "192.168.1.23",
        "fe80::1a2b:3c4d:5e6f:7a8b",
        "172.17.0.1",
    }


def test_lines_without_an_address_give_nothing() -> None:
    """Noise (a link line, garbage after ``inet``) is skipped, not guessed at."""
    assert parse_ip_addr("2: enP7s7: <BROADCAST> mtu 1500\n3: x    inet nonsense/24\n") == set()
