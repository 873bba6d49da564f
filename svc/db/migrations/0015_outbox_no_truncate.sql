-- VACUUM never truncates the outbox. Truncating a table's empty end takes an ACCESS EXCLUSIVE lock, which every
-- write's outbox INSERT waits for; under a stream of writes the publisher's VACUUM (db/publisher.py) instead failed
-- to get it, slept 50 ms and tried again, holding the publisher (and every notification behind it) that long, and
-- when it did get it, the writes queued behind it. The outbox is a queue that fills again at once: the pages would
-- be taken back by the next writes anyway.
ALTER TABLE change_outbox SET (vacuum_truncate = false);
