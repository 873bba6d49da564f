-- History outlives what it is the history of. A configuration's revisions, and its overrides' revisions, stay
-- after the configuration is deleted: each revision names its application (a configuration never moves), so it is
-- still read, listed and diffed once the configuration's row is gone; a configuration created again with the same
-- name is another id with a history of its own. History goes with its application (as the change feed does), and
-- an override's revisions with their environment (which can only be deleted once no override is in it). An
-- operator drops history older than a time with `python -m db.prune` (never the current state).
ALTER TABLE configuration_revisions ADD COLUMN application_id varchar(26);
UPDATE configuration_revisions r SET application_id = c.application_id FROM configurations c
WHERE c.id = r.configuration_id;
ALTER TABLE configuration_revisions ALTER COLUMN application_id SET NOT NULL;
ALTER TABLE configuration_revisions DROP CONSTRAINT configuration_revisions_configuration_id_fkey;
ALTER TABLE configuration_revisions ADD CONSTRAINT configuration_revisions_application_id_fkey
    FOREIGN KEY (application_id) REFERENCES applications (id) ON DELETE CASCADE;
CREATE INDEX configuration_revisions_application_id_idx ON configuration_revisions (application_id);

ALTER TABLE override_revisions ADD COLUMN application_id varchar(26);
UPDATE override_revisions r SET application_id = c.application_id FROM configurations c
WHERE c.id = r.configuration_id;
ALTER TABLE override_revisions ALTER COLUMN application_id SET NOT NULL;
ALTER TABLE override_revisions DROP CONSTRAINT override_revisions_configuration_id_fkey;
ALTER TABLE override_revisions ADD CONSTRAINT override_revisions_application_id_fkey
    FOREIGN KEY (application_id) REFERENCES applications (id) ON DELETE CASCADE;
CREATE INDEX override_revisions_application_id_idx ON override_revisions (application_id);

-- When each change was recorded, in the application's commit order. `changed_at` is the time the write began
-- (its transaction's view of the clock), so two writes can record it out of their commit order. `recorded_at` is
-- the clock when the change's entry is inserted, which every write does after it has locked its application's
-- row (raising `last_change`), and it holds that lock until it commits: the next transaction's changes of the
-- same application are inserted only after this one committed, so per application the transactions' `recorded_at`
-- rise with `seq` (within one statement, its entries are inserted in no particular order), and a change with
-- `recorded_at <= T` was recorded (and, once no write holds the application's row, committed) by T. Changes
-- recorded before this migration keep their `changed_at`.
ALTER TABLE changes ADD COLUMN recorded_at timestamptz;
UPDATE changes SET recorded_at = changed_at;
ALTER TABLE changes ALTER COLUMN recorded_at SET DEFAULT clock_timestamp();
ALTER TABLE changes ALTER COLUMN recorded_at SET NOT NULL;
CREATE INDEX changes_recorded_at_idx ON changes (application_id, recorded_at);
-- The transaction that recorded each change. One transaction may record several changes of an application (a
-- configuration deleted with its overrides, an import applied, a change set), numbered consecutively since it holds
-- the application's row from its first to its commit: a position inside them is a state no one could read, so a
-- read of the past answers the position before their first instead. NULL before this migration.
ALTER TABLE changes ADD COLUMN txid xid8 DEFAULT pg_current_xact_id();
CREATE INDEX changes_txid_idx ON changes (application_id, txid);
-- Point-in-time reads find the last change of each configuration (and override) up to a position.
CREATE INDEX changes_configuration_id_idx ON changes (configuration_id, seq);

-- The first feed position whose state can still be read in full: 0 until history is pruned (`db.prune`), then
-- the last position recorded before the cut (its state is kept; the states before it are not).
ALTER TABLE applications ADD COLUMN history_from bigint NOT NULL DEFAULT 0 CHECK (history_from >= 0);
