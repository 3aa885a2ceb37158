"""The addresses a machine holds itself, as its ``ip -o addr show`` lists them.

Discovery moves an entry only to an address the Spark says is its own: an mDNS
announcement can name any address, and a relay there reaches the real sshd (and so
presents the real host key). ``ip`` is on every DGX OS / Ubuntu box and, unlike
``hostname -I``, lists loopback addresses too.
"""

from __future__ import annotations

import ipaddress
from itertools import pairwise

from .ssh import SparkSSH

ADDRESS_LIST_ARGV = ("ip", "-o", "addr", "show")
_FAMILIES = ("inet", "inet6")


def parse_ip_addr(output: str) -> set[str]:
    """Canonical IPs in ``ip -o addr show`` output (``1: lo    inet 127.0.0.1/8 ...``)."""
    found: set[str] = set()
    for line in output.splitlines():
        fields = line.split()
        for family, value in pairwise(fields):
            if family not in _FAMILIES:
                continue
            try:
                found.add(str(ipaddress.ip_interface(value.split("%", 1)[0]).ip))
            except ValueError:
                continue
            break
    return found


async def machine_addresses(ssh: SparkSSH) -> set[str]:
    """Every address of the machine behind ``ssh`` (raises SparkSSHError if unreadable)."""
    result = await ssh.run(list(ADDRESS_LIST_ARGV))
    return parse_ip_addr(result.stdout)
