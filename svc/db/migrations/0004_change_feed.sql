-- The change feed: every change of an application's configurations, numbered 1, 2, 3, ... per application in
-- commit order. The service's writes number and record a change in the same statement as the write: the statement
-- raises `applications.last_change` (so the application's row lock orders the numbers as the commits) and inserts
-- the change, so a change is in the feed if and only if its write committed. The feed starts empty: the changes
-- made before this migration are not in it. A configuration's deletion keeps its entries; an application's
-- deletion removes its feed with it.
ALTER TABLE applications ADD COLUMN last_change bigint NOT NULL DEFAULT 0 CHECK (last_change >= 0);

CREATE TABLE changes (
    application_id    varchar(26) NOT NULL,
    seq               bigint NOT NULL CHECK (seq >= 1),
    kind              varchar(16) NOT NULL CHECK (kind IN ('created', 'updated', 'restored', 'deleted')),
    configuration_id  varchar(26) NOT NULL,
    name              varchar(256) NOT NULL,
    version           integer NOT NULL CHECK (version >= 1),
    changed_at        timestamptz NOT NULL,
    changed_by        varchar(64),
    CONSTRAINT changes_pkey PRIMARY KEY (application_id, seq),
    CONSTRAINT changes_application_id_fkey
        FOREIGN KEY (application_id) REFERENCES applications (id) ON DELETE CASCADE
);

-- Every committed change of a configuration or an application wakes the service's waiters, whoever made it (the
-- service, or someone in psql). A notification is delivered only if and after its transaction commits.
-- Payloads: "c <configuration id> <application id> <version, 0 when deleted>", "a <application id> <version, 0>".
CREATE FUNCTION configurations_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('config_service', 'c ' || OLD.id || ' ' || OLD.application_id || ' 0');
    ELSE
        PERFORM pg_notify('config_service', 'c ' || NEW.id || ' ' || NEW.application_id || ' ' || NEW.version);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER configurations_notify AFTER INSERT OR UPDATE OR DELETE ON configurations
    FOR EACH ROW EXECUTE FUNCTION configurations_notify();

CREATE FUNCTION applications_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('config_service', 'a ' || OLD.id || ' 0');
    ELSE
        PERFORM pg_notify('config_service', 'a ' || NEW.id || ' ' || NEW.version);
    END IF;
    RETURN NULL;
END
$$;

-- Numbering a change moves `last_change` alone; that is no change of the application's representation.
CREATE TRIGGER applications_notify_update AFTER UPDATE ON applications
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION applications_notify();
CREATE TRIGGER applications_notify_delete AFTER DELETE ON applications
    FOR EACH ROW EXECUTE FUNCTION applications_notify();
