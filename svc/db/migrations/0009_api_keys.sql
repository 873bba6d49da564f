-- API keys managed through the API, scoped to what they may do (read, write, manage keys), on which applications
-- and in which environments (NULL: all). The secret is never stored: `secret_hash` is its SHA-256 (a random
-- 256-bit secret needs no slow hash). A revoked key is kept, with `revoked_at`, so the audit and the change feed
-- can still name it. The keys of API_KEYS / API_KEYS_FILE are not here: they live in the service's settings.
CREATE TABLE api_keys (
    id            varchar(26) PRIMARY KEY,
    name          varchar(64) NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    secret_hash   bytea NOT NULL CHECK (length(secret_hash) = 32),
    actions       text[] NOT NULL CHECK (cardinality(actions) >= 1 AND actions <@ ARRAY['read', 'write', 'manage']),
    applications  varchar(26)[],
    environments  varchar(26)[],
    comments      varchar(1024),
    expires_at    timestamptz,
    created_at    timestamptz NOT NULL,
    created_by    varchar(64),
    created_by_key varchar(26),
    updated_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    version       integer NOT NULL CHECK (version >= 1),
    CONSTRAINT api_keys_secret_hash_key UNIQUE (secret_hash)
);
-- A name is taken by at most one key that is not revoked.
CREATE UNIQUE INDEX api_keys_name_key ON api_keys (name) WHERE revoked_at IS NULL;

-- When each key was last used, a minute at most behind: written apart from the key, so using a key changes
-- neither its version nor anyone's cached rights.
CREATE TABLE api_key_usage (
    key_id        varchar(26) PRIMARY KEY REFERENCES api_keys (id),
    last_used_at  timestamptz NOT NULL
);

-- Every key-management action: who (the key that did it, by id and name; id NULL for a key of the settings), what
-- (created, updated, revoked), which key, and its rights before and after. Nothing is ever changed or deleted here.
CREATE TABLE key_audit (
    seq       bigserial PRIMARY KEY,
    at        timestamptz NOT NULL,
    action    varchar(16) NOT NULL CHECK (action IN ('created', 'updated', 'revoked')),
    key_id    varchar(26) NOT NULL REFERENCES api_keys (id),
    key_name  varchar(64) NOT NULL,
    by_id     varchar(26),
    by_name   varchar(64),
    before    jsonb,
    after     jsonb
);
CREATE INDEX key_audit_key_id_idx ON key_audit (key_id, seq);

CREATE FUNCTION key_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the key audit is append-only' USING ERRCODE = 'CS403';
END
$$;
CREATE TRIGGER key_audit_append_only BEFORE UPDATE OR DELETE ON key_audit
    FOR EACH ROW EXECUTE FUNCTION key_audit_refuse();
CREATE TRIGGER key_audit_no_truncate BEFORE TRUNCATE ON key_audit
    FOR EACH STATEMENT EXECUTE FUNCTION key_audit_refuse();

-- Every committed change of a key (its rights, its name, its revocation) is announced like a configuration's:
-- "k <key id>". Each worker keeps the keys it checks requests against with its read cache, and a request that
-- begins after a revocation was acknowledged is checked against what the notification left: never the old rights.
CREATE FUNCTION api_keys_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('config_service', 'k ' || COALESCE(NEW.id, OLD.id));
    RETURN NULL;
END
$$;
CREATE TRIGGER api_keys_notify AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION api_keys_notify();
CREATE TRIGGER api_keys_notify_truncate AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION config_service_notify_reset();

-- Which managed key made each change of the feed, by id (its name is in `changed_by`). A write made with a managed
-- key sets `config_service.key_id` for its transaction (db.database.as_key); a write made with a key of the
-- settings, with the API open, or from psql leaves it NULL.
ALTER TABLE changes ADD COLUMN changed_by_key varchar(26)
    DEFAULT nullif(current_setting('config_service.key_id', true), '');
