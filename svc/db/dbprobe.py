"""Why the database of a URL cannot be reached, as one line that names the cause and what to do.

For people starting the service (`make db-up`, `make migrate`, `make run`, the start-up log): never in an HTTP
answer. The driver's own message is read, not repeated, except as the last resort.
"""

import getpass
import socket
import struct
from typing import NamedTuple

import psycopg2
from psycopg2.extensions import make_dsn, parse_dsn

# Kinds of cause that pass by themselves while a server starts; the others need a person.
TRANSIENT = frozenset({"refused", "starting", "standby"})
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


class Cause(NamedTuple):
    kind: str  # auth, role, database, refused, starting, standby, timeout, not-postgres, host, hba, other, several
    line: str


def hosts(url: str) -> list[tuple[str, int]]:
    """Each host and port of a connection string, by libpq's rules: `host1:port1,host2:port2` in a URL (or
    comma-separated `host` and `port` values), one port for every host when only one is given."""
    parsed = parse_dsn(url)
    names = (parsed.get("host") or "127.0.0.1").split(",")
    ports = [int(port or 5432) for port in (parsed.get("port") or "5432").split(",")]
    if len(ports) == 1:
        ports *= len(names)
    return list(zip(names, ports))


class Server(NamedTuple):
    host: str
    port: int
    user: str
    password: str
    dbname: str


def where(url: str) -> Server:
    """The first host and its port, the user, password and database name of a connection string, by libpq's rules:
    without a user, the system user's name; without a database, the user's name."""
    parsed = parse_dsn(url)
    host, port = hosts(url)[0]
    user = parsed.get("user") or getpass.getuser()
    return Server(host, port, user, parsed.get("password") or "", parsed.get("dbname") or user)


def single(url: str, host: str, port: int) -> str:
    """The connection string `url` naming only `host:port` (libpq's key=value form)."""
    return make_dsn(url, host=host, port=str(port))


def probe(url: str, timeout: int = 2, alone: bool = True) -> Cause | None:
    """None when the database of `url` takes a connection; else why not. For several hosts, one cause that names
    each host's own (libpq tries them in turn: its message is theirs together), each as one of several (`explain`)."""
    try:
        psycopg2.connect(url, connect_timeout=timeout).close()
        return None
    except psycopg2.OperationalError as error:
        servers = hosts(url)
        if len(servers) == 1:
            return explain(url, str(error), timeout, alone=alone)
    causes = [probe(single(url, host, port), timeout, alone=False) or Cause("ok", f"{host}:{port} takes connections")
              for host, port in servers]
    kinds = {cause.kind for cause in causes}
    kind = kinds.pop() if len(kinds) == 1 else "several"
    # (Several hosts are a primary and its standbys: none usable is, most often, a failover under way.)
    return Cause(kind, "no host of DATABASE_URL can be used (a failover under way, or each host as said): "
                 + "; ".join(cause.line for cause in causes))


def speaks_postgres(host: str, port: int, timeout: float) -> bool | None:
    """Whether what listens on host:port answers a PostgreSQL SSLRequest as PostgreSQL does ('S' or 'N');
    None when nothing answered in time."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(SSL_REQUEST)
            reply = conn.recv(1)
    except TimeoutError:
        return None
    except OSError:
        return False
    return reply in (b"S", b"N")


def explain(url: str, message: str, timeout: int = 2, alone: bool = True) -> Cause:
    """Why the one host of `url` refused, from the driver's `message`. `alone`: the only host of DATABASE_URL (a
    development database, then, whose advice is `make db-up`); else one of a primary and its standbys, where a host
    that is down or a standby is an event to wait for or look into, not a setting to fix."""
    host, port, user, _, dbname = where(url)
    at = f"{host}:{port}"
    text = message.lower()
    if "password authentication failed" in text or "authentication failed" in text:
        return Cause("auth", f'authentication failed for user "{user}" at {at}: the password in DATABASE_URL is '
                             "not the one this server has for that user")
    if "role" in text and "does not exist" in text:
        return Cause("role", f'the server at {at} has no user "{user}": check the user in DATABASE_URL')
    if "database" in text and "does not exist" in text:
        return Cause("database", f'the server at {at} has no database "{dbname}": `make db-up` creates it '
                                 "(or check its name in DATABASE_URL)")
    if "no pg_hba.conf entry" in text:
        return Cause("hba", f'the server at {at} does not let user "{user}" connect from here (its pg_hba.conf)')
    if "connection refused" in text:
        if not alone:
            return Cause("refused", f"nothing listens on {at} (down?)")
        return Cause("refused", f"nothing listens on {at}: start PostgreSQL (`make db-up`) or fix the host and "
                                "port in DATABASE_URL")
    if "read-only" in text or "hot standby" in text or "is not the primary" in text:
        if not alone:
            return Cause("standby", f"the server at {at} is a standby (read-only)")
        return Cause("standby", f"the server at {at} is a standby (read-only): DATABASE_URL must reach the primary "
                                "(target_session_attrs=read-write picks it among several hosts)")
    if "starting up" in text or "shutting down" in text or "in recovery" in text:
        return Cause("starting", f"the server at {at} is starting up or shutting down")
    if "could not translate host name" in text:
        return Cause("host", f'the host "{host}" of DATABASE_URL cannot be resolved')
    if "timeout expired" in text or "server closed the connection" in text or "invalid response" in text \
            or "expected authentication request" in text:
        answers = speaks_postgres(host, port, timeout)
        if answers is False or "invalid response" in text or "expected authentication request" in text:
            return Cause("not-postgres", f"something that is not PostgreSQL listens on {at}: stop it, or set "
                                         "another port in DATABASE_URL")
        return Cause("timeout", f"something listens on {at} but did not answer as PostgreSQL within {timeout} s")
    first = message.strip().splitlines()[0] if message.strip() else "no message"
    return Cause("other", f"cannot connect to {at}: {first}")
