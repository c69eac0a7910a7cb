"""``--serve [HOST:]PORT``: parsed once (config validation) and judged once (loopback or not)."""

from __future__ import annotations

import ipaddress

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def parse_address(text: str) -> tuple[str, int]:
    """``8080`` -> (127.0.0.1, 8080); ``0.0.0.0:8080``; ``[::1]:8080``; ``localhost:0`` (0: any free port)."""
    text = str(text).strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    host = host.strip("[]") or DEFAULT_HOST
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError("expected [HOST:]PORT such as 8080, 127.0.0.1:8080 or 0.0.0.0:8080") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port {port} is out of range; give 1..65535 (or 0 for any free port)")
    return host, port


def is_loopback(host: str) -> bool:
    """Only this machine can connect (127.0.0.0/8, ::1, localhost); anything else is reachable from the network."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface
