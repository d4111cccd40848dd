"""No outbound network from the app process: the app needs none, so every non-local connection,
datagram (UDP needs no connect: `sendto` names its peer) or name lookup is refused. Without this,
Gradio fetches any http URL an API client puts in a file input (its SSRF filter first asks
dns.google to resolve the name)."""
from __future__ import annotations

import ipaddress
import logging
import sys
from collections.abc import Iterable

log = logging.getLogger("necklab.offline")
LOCAL_NAMES = {"", "localhost", "0.0.0.0", "::"}  # "" / None: a wildcard bind, not a peer


def is_local(host: object, also: Iterable[str] = ()) -> bool:
    """True for loopback and wildcard addresses, `localhost`, and the hosts in `also`."""
    if host is None:
        return True
    host = host.decode() if isinstance(host, bytes) else str(host)
    if host in LOCAL_NAMES or host in also:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def outbound_host(event: str, args: tuple, also: Iterable[str] = ()) -> str | None:
    """The remote host of an audit event that connects to, sends to or looks up a non-local host,
    else None. Audit hooks run before the call, so a refused datagram is never sent."""
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg") and isinstance(args[1], tuple):
        host = args[1][0]
    elif event == "socket.getaddrinfo":
        host = args[0]
    else:
        return None
    return None if is_local(host, also) else str(host)


def forbid_outbound(also: Iterable[str] = ()) -> None:
    """Refuse, from now on and in this whole process, connections, datagrams and name lookups for any
    host but this machine's loopback and `also` (the address the app serves on, which launch calls)."""
    allowed = frozenset(also)

    def refuse(event: str, args: tuple) -> None:
        if (host := outbound_host(event, args, allowed)) is not None:
            log.warning("refused an outbound connection to %s: NeckLab runs offline", host)
            raise ConnectionRefusedError(f"NeckLab makes no outbound connections (refused {host})")

    sys.addaudithook(refuse)
