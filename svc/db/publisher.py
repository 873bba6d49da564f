"""The worker's publisher: after a write commits, it notifies the listeners of what the write recorded in the outbox
(migration 0012), from a thread and a connection of its own.

A write's transaction no longer NOTIFYs: PostgreSQL would hold a cluster-wide lock from that commit's start to the
end of its WAL flush, and writes would commit one flush at a time. Each unit of work that may have written kicks the
publisher (`kick`, from the executor thread, cheap); the publisher runs `config_service_flush` for whatever is
waiting, so a burst of writes is published by one short transaction that waits for no flush; after each flush it
lets GATHER (10 ms) pass, so that under a stream of writes each flush publishes what came in that time instead of a
flush for each statement (at 16 connections of PUTs, flushes took as much of PostgreSQL's time as the writes did).
A flush publishes every worker's rows, and under a stream of writes every worker's publisher is kicked, so with N
workers each lets N x GATHER pass, at most GATHER_MAX: with two workers at GATHER each, their flushes could come
twice as often as one publisher's, each less full, where each flush costs PostgreSQL a statement and a transaction.
(With 4 ms each against 2, two workers' flushes were a quarter fewer and the service's CPU per PUT less.) The bound
keeps a write's publication within GATHER_MAX and a flush however many workers there are: a write that comes while
its worker's publisher waits after a flush waits that long, unless another worker's flush publishes it first; a
write after a quiet moment is published at once. 10 ms against 2 (svc/README.md, Where a PUT's time goes): under a
stream of PUTs a flush came with nearly every statement of 32 writes, and each cost the service and PostgreSQL more
than its rows (with 10 ms, 4-18% more PUTs a second at one worker and 7-27% at two, in interleaved runs), while a
watcher of a configuration written meanwhile heard of its write 3-4 ms later (p50 13 ms against 9-11).
The acknowledgment of a write does not wait for it: a sync round reads the outbox, so a read after the acknowledgment
sees the write whether or not it was published yet (see the migration). The publication is what wakes held
requests, here and on every other worker, and it is what lets the rows go. Every publisher also flushes once a
second unkicked, so what nobody else publishes (a write made in psql, the rows of a worker that died before
publishing) is published within a second. A publisher that fails (the database restarts, a failover) connects
again.
"""

import logging
import threading
import time

import psycopg2

from db.database import Database, first_line

log = logging.getLogger("config_service")

FLUSH = "SELECT config_service_flush(%s::bigint[]) AS notified"
# Every sync round reads the whole outbox, so its dead rows must not pile up between autovacuum's visits (a
# minute apart by default): after VACUUM_AFTER rows deleted, at most every VACUUM_EVERY seconds, the publisher
# vacuums it (skipped when another is at it; a mere warning when the service's role does not own the table).
VACUUM = "VACUUM (SKIP_LOCKED) change_outbox"
VACUUM_AFTER = 1000
VACUUM_EVERY = 1.0
BACKOFF_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
# After a flush, the publisher lets this long pass before the next (times the workers, at most GATHER_MAX:
# `Publisher`), so that the writes of that time are published together.
GATHER = 0.01
GATHER_MAX = 0.02
# A flush at least this often, kicked or not: what psql wrote, or a worker that died before publishing left, is
# published by every other worker's publisher.
EVERY = 1.0


class Publisher:
    def __init__(self, database: Database, workers: int = 1) -> None:
        self.database = database
        self._gather = min(GATHER * max(1, workers), GATHER_MAX)  # (the module's docstring)
        self.published = 0  # rows notified, for tests and curiosity
        self._wake = threading.Event()
        self._closing = False
        self._done: list[int] = []  # what the last flush notified: deleted by the next one
        self._deleted = 0  # rows deleted since the last VACUUM
        self._vacuumed = 0.0  # time.monotonic() of the last VACUUM
        self._conn: psycopg2.extensions.connection | None = None
        self._thread = threading.Thread(target=self._run, name="db-publisher", daemon=True)
        self._thread.start()

    def kick(self) -> None:
        """A write may have committed: publish now. Safe from any thread."""
        self._wake.set()

    def close(self, timeout: float = 2.0) -> None:
        """Publish what is waiting, then stop."""
        self._closing = True
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while True:
            if not self._done:  # else the rows just notified are to be deleted now, without waiting to be kicked
                self._wake.wait(EVERY)
            self._wake.clear()
            try:
                self._flush()
                failures = 0
            except Exception as error:  # noqa: BLE001 - the publisher must not end; a round publishes meanwhile
                if failures == 0:
                    log.warning("publisher failed, retrying: %s",
                                first_line(error) if isinstance(error, psycopg2.Error) else type(error).__name__)
                self._drop()
                self._done = []  # deleted by a round, later
                if self._closing:
                    return
                time.sleep(BACKOFF_SECONDS[min(failures, len(BACKOFF_SECONDS) - 1)])
                failures += 1
                self._wake.set()  # what the failed flush was to publish is still waiting
                continue
            if self._closing and not self._done:
                self._drop()
                return
            if not self._closing:
                time.sleep(self._gather)

    def _flush(self) -> None:
        database = self.database
        conn = self._conn
        if conn is None or conn.closed or not database.primary.is_current(conn.identity):
            self._drop()
            conn = self._conn = database.connect("config-service-publisher")
        with database.bounded(conn), conn.cursor() as cur:
            self._deleted += len(self._done)
            cur.execute(FLUSH, (self._done,))
            self._done = cur.fetchone()["notified"]
            self.published += len(self._done)
            if self._deleted >= VACUUM_AFTER and time.monotonic() - self._vacuumed >= VACUUM_EVERY:
                cur.execute(VACUUM)
                self._deleted, self._vacuumed = 0, time.monotonic()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg2.Error:
                pass
