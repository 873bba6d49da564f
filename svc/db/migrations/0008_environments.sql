-- Environments and overrides. Environments are named once for the whole service and form a tree through
-- `parent_id` (the service refuses cycles and chains longer than 8). A configuration has at most one override per
-- environment: an RFC 7396 merge patch of its `config`, versioned like it, with revisions and entries in the
-- application's change feed. Deleting a configuration deletes its overrides; an environment that still has
-- children or overrides cannot be deleted (the service answers 409 first; the foreign keys hold even without it).
CREATE TABLE environments (
    id          varchar(26) PRIMARY KEY,
    name        varchar(256) NOT NULL CHECK (char_length(name) >= 1),
    parent_id   varchar(26),
    comments    varchar(1024),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    CONSTRAINT environments_name_key UNIQUE (name),
    CONSTRAINT environments_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES environments (id),
    CONSTRAINT environments_parent_id_check CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX environments_parent_id_idx ON environments (parent_id);

CREATE TABLE overrides (
    configuration_id  varchar(26) NOT NULL,
    environment_id    varchar(26) NOT NULL,
    application_id    varchar(26) NOT NULL,  -- the configuration's (which never moves): for reads of a whole application
    patch             jsonb NOT NULL CHECK (jsonb_typeof(patch) = 'object'),
    comments          varchar(1024),
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    version           integer NOT NULL CHECK (version >= 1),
    CONSTRAINT overrides_pkey PRIMARY KEY (configuration_id, environment_id),
    CONSTRAINT overrides_configuration_id_fkey
        FOREIGN KEY (configuration_id) REFERENCES configurations (id) ON DELETE CASCADE,
    CONSTRAINT overrides_environment_id_fkey FOREIGN KEY (environment_id) REFERENCES environments (id)
);
CREATE INDEX overrides_environment_id_idx ON overrides (environment_id);
CREATE INDEX overrides_application_id_idx ON overrides (application_id, environment_id);

-- An override's history outlives the override: one set again continues its numbering after its last revision,
-- so an ETag of the deleted one never matches the new one. It goes with its configuration (as the configuration's
-- revisions do) and with its environment (which can only be deleted once it has no override).
CREATE TABLE override_revisions (
    configuration_id  varchar(26) NOT NULL,
    environment_id    varchar(26) NOT NULL,
    version           integer NOT NULL CHECK (version >= 1),
    patch             jsonb NOT NULL,
    comments          varchar(1024),
    created_at        timestamptz NOT NULL,
    created_by        varchar(64),
    CONSTRAINT override_revisions_pkey PRIMARY KEY (configuration_id, environment_id, version),
    CONSTRAINT override_revisions_configuration_id_fkey
        FOREIGN KEY (configuration_id) REFERENCES configurations (id) ON DELETE CASCADE,
    CONSTRAINT override_revisions_environment_id_fkey
        FOREIGN KEY (environment_id) REFERENCES environments (id) ON DELETE CASCADE
);

-- A change of an override is in its application's feed, naming the environment (its name at the time).
ALTER TABLE changes ADD COLUMN environment_id varchar(26);
ALTER TABLE changes ADD COLUMN environment varchar(256);

-- Notifications (as 0004): "o <configuration id> <application id> <environment id> <version, 0 when deleted>",
-- "e <environment id> <version, 0 when deleted>"; TRUNCATE sends 'reset'.
CREATE FUNCTION overrides_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('config_service', 'o ' || OLD.configuration_id || ' ' || OLD.application_id || ' '
                          || OLD.environment_id || ' 0');
    ELSE
        PERFORM pg_notify('config_service', 'o ' || NEW.configuration_id || ' ' || NEW.application_id || ' '
                          || NEW.environment_id || ' ' || NEW.version);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER overrides_notify AFTER INSERT OR UPDATE OR DELETE ON overrides
    FOR EACH ROW EXECUTE FUNCTION overrides_notify();

CREATE FUNCTION environments_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('config_service', 'e ' || OLD.id || ' 0');
    ELSE
        PERFORM pg_notify('config_service', 'e ' || NEW.id || ' ' || NEW.version);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER environments_notify AFTER INSERT OR UPDATE OR DELETE ON environments
    FOR EACH ROW EXECUTE FUNCTION environments_notify();
CREATE TRIGGER environments_notify_truncate AFTER TRUNCATE ON environments
    FOR EACH STATEMENT EXECUTE FUNCTION config_service_notify_reset();
CREATE TRIGGER overrides_notify_truncate AFTER TRUNCATE ON overrides
    FOR EACH STATEMENT EXECUTE FUNCTION config_service_notify_reset();

-- A statement that finds, half-way, that it must not write raises this (a function, so that it can stand in a
-- WHERE): the whole statement stops and writes nothing; the service answers by the SQLSTATE.
CREATE FUNCTION config_service_refuse(code text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'refused: %', code USING ERRCODE = code;
END
$$;
