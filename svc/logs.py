"""Structured logs: one JSON object a line, with the request id where there is one."""

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from json.encoder import encode_basestring, encode_basestring_ascii  # (what `json.dumps` writes a str with)
from typing import Any

# Attributes every LogRecord has; anything else given through `extra=` is emitted as a field. uvicorn adds
# `color_message`, its message with ANSI colour codes for terminals: never a field of a JSON line.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


_NAMES: dict[str, str] = {}  # a key's name as JSON, written on every line of its requests: encoded once


def _name(name: str) -> str:
    encoded = _NAMES.get(name)
    if encoded is None:
        if len(_NAMES) >= 10_000:  # (names are a service's keys: few; a bound all the same)
            _NAMES.clear()
        encoded = _NAMES[name] = encode_basestring(name)
    return encoded


def _address(address: str | None) -> str:
    """A client's address as JSON. An address is digits, hex and separators; what a trusted proxy's
    `X-Forwarded-For` names may be anything else, and is encoded."""
    if address is None:
        return "null"
    if address.isascii() and not address.strip("0123456789abcdefABCDEF.:[]%"):
        return f'"{address}"'
    return encode_basestring(address)


class AccessLog:
    """The one line per request: the object `JsonFormatter` would make, written straight to the handler's stream
    without the logging module's per-record work (measurable on a cached read). Without a JSON handler (before
    `configure`, in tests) it goes through the logger.

    On an event loop, the lines of one turn of the loop are written together when it ends (one write instead of one
    a request: the 1,000 answers one change sends are 1,000 lines at once); any other line the handler writes
    meanwhile writes them first, so the log keeps its order."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.handler: logging.StreamHandler | None = None
        self._second = -1
        self._stamp = ""
        self._pending: list[str] = []

    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def write(self, request_id: str, method: str, path: str, status: int, duration_ms: float,
              principal: Any = None, client: tuple[str, int] | None = None) -> None:
        """One request's line; `principal`: the API key it was made with (`wire.principals`), whose name and, for a
        managed key, id the line names (`key`, `key_id`): who did what, a deletion included, is in the log;
        `client`: the ASGI scope's, whose address the line names (`client`: the peer's, or behind a proxy
        `FORWARDED_ALLOW_IPS` trusts, the one its `X-Forwarded-For` names)."""
        handler = self.handler
        address = client[0] if client else None
        if handler is None:
            self.logger.info("request", extra={
                "request_id": request_id, "method": method, "path": path, "status": status,
                "duration_ms": duration_ms, "key": None if principal is None else principal.name,
                "key_id": None if principal is None else principal.id, "client": address})
            return
        key = key_id = "null"  # (as JSON)
        if principal is not None:
            key = _name(principal.name)
            if principal.id is not None:
                key_id = f'"{principal.id}"'  # (a ULID: nothing to escape)
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second, self._stamp = second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        line = (f'{{"time": "{self._stamp}.{int((now - second) * 1000):03d}+00:00", "level": "INFO", '
                f'"logger": "{self.logger.name}", "message": "request", "request_id": "{request_id}", '
                f'"method": {encode_basestring_ascii(method)}, "path": {encode_basestring(path)}, '
                f'"status": {status}, "duration_ms": {duration_ms}, '
                f'"key": {key}, "key_id": {key_id}, "client": {_address(address)}}}\n')
        self._pending.append(line)
        if len(self._pending) == 1:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:  # no loop: now
                self.flush()

    def flush(self) -> None:
        """Write the lines not yet written."""
        handler = self.handler
        if not self._pending or handler is None:
            return
        lines, self._pending = "".join(self._pending), []
        with handler.lock:  # type: ignore[union-attr]
            handler.stream.write(lines)
            handler.stream.flush()


class _Handler(logging.StreamHandler):
    """Writes the access lines not yet written before any other line."""

    def emit(self, record: logging.LogRecord) -> None:
        access.flush()
        super().emit(record)


access = AccessLog(logging.getLogger("config_service.access"))


def configure(level: str) -> None:
    """JSON lines on stderr at `level`, for our loggers and uvicorn's."""
    # A log line per request must be cheap: skip what our lines do not print (the caller's file and line,
    # which walks the stack; thread, process and asyncio task names).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False
    handler = _Handler()
    handler.setFormatter(JsonFormatter())
    access.handler = handler
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # Our own access line replaces uvicorn's.
    logging.getLogger("uvicorn.access").disabled = True
