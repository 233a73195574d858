"""Which Host a browser may reach the app by. The server listens on this machine only, but a page elsewhere can make a
browser speak to it through a name it controls (DNS rebinding): such a request carries that name as its Host. The app
answers only to this machine's names, the address it was started on (`--server.address`) and those in
$SPARSELAB_ALLOWED_HOSTS (comma-separated, for a deliberate share)."""
from __future__ import annotations

import os

LOCAL = {"localhost", "127.0.0.1", "::1", ""}  # "": no Host header (tests that run the script without a server)


def hostname(host: str) -> str:
    """'127.0.0.1:8501' -> '127.0.0.1'; '[::1]:8501' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def allowed(host: str, address: str | None = None, extra: str | None = None) -> bool:
    names = LOCAL | {a.strip().lower() for a in (extra or os.environ.get("SPARSELAB_ALLOWED_HOSTS", "")).split(",")
                     if a.strip()}
    if address and address not in ("0.0.0.0", "::"):
        names.add(address.lower())
    elif address:  # opened to the network on purpose: this machine's own names as well
        import socket

        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return hostname(host) in names
