"""Loopback names and addresses: the only hosts the simulator binds, answers and redirects to."""

from __future__ import annotations

import ipaddress

__all__ = ["host_is_loopback", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether a host name or address is a loopback one (``localhost``, ``127.0.0.0/8``, ``::1``).

    :param host: a host without port or brackets.
    """
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_is_loopback(header: str) -> bool:
    """Whether a ``Host`` header names a loopback host, with or without a port (``[::1]:8765`` too).

    :param header: the header's value.
    """
    value = header.strip()
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        return bool(bracket) and (rest == "" or (rest.startswith(":") and rest[1:].isdigit())) and is_loopback(host)
    host, colon, port = value.partition(":")
    if colon and not port.isdigit():
        return False
    return is_loopback(host)
