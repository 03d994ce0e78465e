"""Ports of ``mixscope up`` (issue 19): checked before anything starts, and a child that
cannot bind its port is recognised from its log (not restarted in a loop)."""

from __future__ import annotations

import errno
import re
import socket

#: what uvicorn, gunicorn and Python print when a port is taken
BIND_FAILURE = re.compile(r"address already in use|connection in use|errno (98|48|10048)\b|"
                          r"can't connect to \(", re.IGNORECASE)


def port_problem(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` now (None: it can). Binds a socket as
    the servers do (SO_REUSEADDR: a port in TIME_WAIT is free, one something listens on is
    not) and closes it at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    bind_host = "" if host in ("0.0.0.0", "::") else host
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((bind_host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return "already in use (another program listens on it)"
        if exc.errno == errno.EACCES:
            return "not allowed (ports below 1024 need privileges)"
        return exc.strerror or str(exc)
    return None


def check_ports(host: str, ports: dict[str, int]) -> list[str]:
    """One message per port that cannot be used, naming it and the flag that changes it:
    ``ports`` maps each flag (``--api-port``) to its port."""
    out, seen = [], {}
    for flag, port in ports.items():
        if port in seen:
            out.append(f"port {port} is given to both {seen[port]} and {flag}: "
                       f"choose another with {flag}")
            continue
        seen[port] = flag
        why = port_problem(host, port)
        if why:
            out.append(f"port {port} on {host} is {why}: choose another with {flag} "
                       f"(e.g. {flag} {port + 1})")
    return out


def bind_failure(log_text: str) -> bool:
    """True when a server's log says it could not bind its port."""
    return bool(BIND_FAILURE.search(log_text))
