"""Which webhook URLs the server may call: none that lead into its own host or network (SSRF).

A webhook URL is chosen by whoever holds an API key; without this guard, a key could make the server POST
to 127.0.0.1, the cloud metadata address or a database on the private network. The host is resolved and
every address it resolves to must be globally routable. The check runs at submit (a clear 400) and again
at send time, where the request then goes to the address that was checked: a name that resolved to a
public address at submit and to 10.0.0.5 later (DNS rebinding) is refused, and a name cannot resolve
differently between the check and the connect. The stdlib's ipaddress knows the reserved ranges; no
maintained library does this for httpx, so the few lines that pin the address are here.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from shotline.errors import UnsafeUrl

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def is_public(ip: Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise UnsafeUrl(f"the host {host!r} does not resolve ({err})") from None
    # getaddrinfo gives IPv6 scoped addresses as "fe80::1%eth0"; the scope is irrelevant to the check.
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


@dataclass(frozen=True)
class Target:
    """Where to send: the URL (with the checked address in place of the name when pinned), the headers
    and httpx extensions that keep the name for the receiver (Host) and for TLS (SNI, certificate check)."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


def check(url: str, *, allow_private: bool) -> Target:
    """The target to POST to, or UnsafeUrl. With `allow_private`, any http(s) URL goes as it is."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("must be an http:// or https:// URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeUrl("has an invalid port") from None
    if allow_private:
        return Target(url)
    host = parts.hostname
    addresses = resolve(host, port)
    blocked = [str(ip) for ip in addresses if not is_public(ip)]
    if blocked or not addresses:
        raise UnsafeUrl(f"the host {host!r} is a loopback, private, link-local or reserved address "
                        f"({', '.join(blocked) or 'none'}); this server does not send webhooks there "
                        "(its operator can allow it with SHOTLINE_WEBHOOK_ALLOW_PRIVATE=true)")
    ip = addresses[0]
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = (f"{userinfo}@" if userinfo else "") + (f"{literal}:{parts.port}" if parts.port else literal)
    pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]  # no userinfo in the Host header
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Target(pinned, {"Host": host_header}, extensions)
