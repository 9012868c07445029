"""Who may connect to the receiver: an address allow-list checked as a connection is accepted
(before a byte of DICOM is read), and the TLS handshake done in the connection's own thread
(a caller that connects and stays silent cannot hold up the others). A refused connection is
closed at once and reported to `on_refused(address, reason)`."""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable

from pynetdicom.transport import ThreadedAssociationServer

from pneumo_desktop.errors import PneumoError

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
HANDSHAKE_TIMEOUT_S = 30.0
REPORT_EVERY_S = 60.0  # the same address refused for the same reason: reported once a minute


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """Addresses or networks ('10.0.0.5', '10.0.0.0/24', 'fd00::/8') -> networks."""
    networks = []
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise PneumoError(f"{entry!r} is not an IPv4 or IPv6 address or network "
                              "(e.g. 10.0.0.5, 10.0.0.0/24, fd00::/8)") from None
    return networks


def address_allowed(host: str, networks: list[Network]) -> bool:
    """Whether `host` (as a socket reports it; an IPv4-mapped IPv6 address counts as IPv4) is
    in one of `networks`; an empty list allows any."""
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class GuardedAssociationServer(ThreadedAssociationServer):
    """pynetdicom's threaded server, refusing addresses outside `allowed` (empty: any) and
    callers that fail the TLS handshake (a plain association on a TLS port, a certificate
    the CA did not sign)."""

    def __init__(self, *args, allowed: list[Network] | None = None,
                 on_refused: Callable[[str, str], None] | None = None, **kwargs):
        self.allowed = list(allowed or ())
        self.on_refused = on_refused
        self._reported: dict[tuple[str, str], float] = {}
        self._report_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, tuple]:
        """Accept; the TLS handshake waits for the connection's thread."""
        client, address = self.socket.accept()
        if self.ssl_context:
            client = self.ssl_context.wrap_socket(client, server_side=True,
                                                  do_handshake_on_connect=False)
        return client, address

    def verify_request(self, request, client_address) -> bool:
        if address_allowed(client_address[0], self.allowed):
            return True
        self.refused(client_address[0], "address not in the allow-list")
        return False  # socketserver closes the connection

    def process_request_thread(self, request, client_address) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(HANDSHAKE_TIMEOUT_S)
                request.do_handshake()
                request.settimeout(None)
            except (OSError, ValueError) as exc:
                reason = getattr(exc, "reason", None) or type(exc).__name__
                self.refused(client_address[0], f"TLS handshake failed ({reason})")
                self.shutdown_request(request)
                return
        super().process_request_thread(request, client_address)

    def refused(self, host: str, reason: str) -> None:
        """Log a refused connection (once a minute per address and reason) and report it."""
        now = time.monotonic()
        with self._report_lock:
            last = self._reported.get((host, reason))
            if last is not None and now - last < REPORT_EVERY_S:
                return
            self._reported[(host, reason)] = now
        log.warning("refused a connection from %s: %s", host, reason)
        if self.on_refused:
            try:
                self.on_refused(host, reason)
            except Exception:
                log.exception("reporting a refused connection failed")


def local_addresses() -> list[str]:
    """This computer's IPv4 addresses that others on the network may reach (best effort: the
    host name's addresses and the one routed outwards; no packet is sent), loopback left out."""
    found: set[str] = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.add(str(info[4][0]))
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 104))  # TEST-NET-1: a route is looked up, no traffic
            found.add(probe.getsockname()[0])
        except OSError:
            pass
    return sorted(a for a in found if not ipaddress.ip_address(a).is_loopback
                  and not ipaddress.ip_address(a).is_unspecified)
