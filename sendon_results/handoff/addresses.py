"""Where the console may send requests: the platform's endpoint, never the console's own
host names, never a link-local address (the cloud's metadata service) nor, unless
PLATFORM_ALLOW_PRIVATE_ADDRESSES says so, a private or loopback one (a URL an owner types
must not reach the machines behind the console). HTTPS only, unless PLATFORM_ALLOW_HTTP
says so (DEBUG's default).

The address is checked when the URL is saved and again at every delivery, on what the
name resolves to then, and the connection goes to the very address checked (a name that
resolved to a public address once cannot send the next request inside).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _


class Refused(ValueError):
    """A URL or address the console does not send to; the message says why."""


def check_url(url: str, *, console_host: str = "") -> str:
    """The address to connect to for `url`; raises Refused when the console may not send
    to it. `console_host` is the host[:port] the console is being used at."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and settings.PLATFORM_ALLOW_HTTP):
        raise Refused(_("The endpoint must be an https:// address."))
    if not parts.hostname:
        raise Refused(_("The endpoint must name a host."))
    if parts.username or parts.password:
        raise Refused(_("The endpoint may not hold a user name or password."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise Refused(_("The endpoint's port is not a port.")) from error
    host = parts.hostname.lower()
    ours = {name.lower().lstrip(".") for name in settings.ALLOWED_HOSTS if name != "*"}
    if (console_host and parts.netloc.lower() == console_host.lower()) or (
        host in ours and not _is_address(host) and host != "localhost"
    ):
        raise Refused(_("The endpoint may not be this console itself."))
    return public_address(host, port)


def public_address(host: str, port: int) -> str:
    """The address to connect to for host: the first it resolves to, when every one it
    resolves to may be reached."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise Refused(_("The endpoint's host name does not resolve.")) from error
    addresses = [str(info[4][0]) for info in found]
    for address in addresses:
        if not _may_reach(ipaddress.ip_address(address.split("%")[0])):
            raise Refused(_("The endpoint may not be a private or local address."))
    return addresses[0]


# IPv6 prefixes that carry an IPv4 address a gateway may forward to (NAT64, 6to4).
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _may_reach(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Public addresses; private and loopback ones too when PLATFORM_ALLOW_PRIVATE_ADDRESSES
    says so; link-local ones (the cloud's metadata service) never. An IPv6 address that
    carries an IPv4 one is judged by that."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = (
            address.ipv4_mapped
            or address.sixtofour
            or (address.teredo[1] if address.teredo else None)
        )
        if carried is None and any(address in network for network in NAT64):
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            return _may_reach(carried)
    if address.is_link_local or address.is_multicast or address.is_unspecified:
        return False
    return address.is_global or settings.PLATFORM_ALLOW_PRIVATE_ADDRESSES


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class PinnedHTTPConnection(http.client.HTTPConnection):
    """An HTTP connection to an address checked beforehand, for the name in the URL."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """The same over TLS: the certificate is checked against the URL's name."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
