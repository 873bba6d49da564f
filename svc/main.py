"""The process runner, `python -m main` (what `make run` starts): raises the open-files limit, checks the port,
serves `app:app` with uvicorn, and ends a failed start with one plain line saying why. `main:app` is that same
application, for `uvicorn main:app --reload` (which serves it without this runner's checks)."""

import errno
import os
import resource
import signal
import socket
import sys
import tempfile

import uvicorn

# The module uvicorn serves as "app:app" (its settings, and the name of the file a refusal is written to).
import app as service
from wire.protocol import Protocol

app = service.app


def port_taken(host: str, port: int) -> str | None:
    """One line saying what to do when something already listens on host:port; None when it is free."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno != errno.EADDRINUSE:
                return f"cannot listen on {host}:{port}: {error.strerror}; set HOST and PORT in svc/.env"
            return (f"port {port} on {host} is already in use (another `make run`?): stop what listens there "
                    f"(`ss -ltnp 'sport = :{port}'` shows it), or set PORT in svc/.env")
    return None


def run() -> None:
    settings = service.settings
    # Every held request is an open socket: allow as many as the system lets this process have.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    taken = port_taken(settings.host, settings.port)
    if taken:
        sys.exit(taken)

    # uvicorn re-raises the SIGTERM it shut down on; a stop that drained gracefully is a success, exit 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))

    # A worker that refuses to start (or stops, its database lacking migrations) writes why here, the one place that
    # holds it whatever the workers: with several, each is a process of its own, and uvicorn stops the others and
    # returns as from a clean stop (exit 0, which a supervisor would take for success).
    descriptor, refusals = tempfile.mkstemp(prefix="config-service-refused-")
    os.close(descriptor)
    os.environ[service.REFUSED_FILE] = refusals
    try:
        uvicorn.run("app:app", host=settings.host, port=settings.port, workers=settings.workers, log_config=None,
                    access_log=False, timeout_graceful_shutdown=settings.shutdown_grace_seconds, http=Protocol,
                    ws="none", forwarded_allow_ips=settings.forwarded_allow_ips,
                    timeout_keep_alive=settings.keep_alive_seconds)
    except SystemExit as stopped:
        if stopped.code not in (0, None):
            # uvicorn ends a failed start-up with a log line of its own; the last line says what failed.
            sys.exit("the service stopped at start-up: the log lines above say why")
        raise
    finally:
        with open(refusals, encoding="utf-8") as file:
            refused = file.read()
        os.unlink(refusals)
        if refused:
            sys.exit(refused)  # the last line, whatever ended the run


if __name__ == "__main__":
    run()
