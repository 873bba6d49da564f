"""Drop old history: `python -m db.prune --before 2026-01-01T00:00:00Z` (or `make prune BEFORE=...`).

History is kept for ever unless an operator runs this. For every application it keeps every state from the last
change recorded at or before the time given on (that state, and everything after it, can still be read, diffed and
exported) and drops the revisions that only older states showed; reads of an older position then answer 404 naming
the first one kept. The current state is never touched, nor the change feed. One transaction; safe while the service
runs (it waits for writes in flight, and they for it). A time in the future is refused: nothing is dropped.
"""

import argparse
import sys
from datetime import datetime

import psycopg2
import psycopg2.extras

import settings as settings_module
from repositories import history


def moment(text: str) -> datetime:
    """An RFC 3339 time with its offset (a time without one would mean the server's zone, silently)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time (2026-01-01T00:00:00Z)") from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no offset: write Z or +HH:MM")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m db.prune", description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=moment, required=True,
                        help="drop the history that only states recorded before this RFC 3339 time need")
    arguments = parser.parse_args(argv)
    conn = psycopg2.connect(str(settings_module.load().database_url), application_name="config-service-prune",
                            cursor_factory=psycopg2.extras.RealDictCursor)
    try:
        with conn, conn.cursor() as cur:
            # A time to come would drop every state but the current one: a mistyped year, most likely. Reads of the
            # past refuse one too (422), by the database's clock, which every change's time comes from.
            cur.execute("SELECT clock_timestamp() AS now")
            now = cur.fetchone()["now"]
            if arguments.before > now:
                print(f"prune: {arguments.before.isoformat()} is in the future (the database's clock says "
                      f"{now.isoformat()}): nothing was dropped", file=sys.stderr)
                return 1
            counts = history.prune(cur, arguments.before)
    finally:
        conn.close()
    print(f"prune: {_counted(counts['applications'], 'application')} cut, "
          f"{_counted(counts['configuration_revisions'], 'configuration revision')} and "
          f"{_counted(counts['override_revisions'], 'override revision')} dropped"
          + (f", {_counted(counts['retired_environments'], 'deleted environment')} no revision names forgotten"
             if counts["retired_environments"] else ""))
    return 0


def _counted(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


if __name__ == "__main__":
    sys.exit(main())
