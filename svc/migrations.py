"""`python -m migrations` from `svc/`: applies the pending migrations (`db/migrations.py`, what `make migrate` runs)."""

import sys

from db.migrations import main

if __name__ == "__main__":
    sys.exit(main())
