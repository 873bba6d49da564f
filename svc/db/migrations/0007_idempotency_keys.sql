-- Idempotency-Key (idempotency.py): what a write answered, kept with the write in one transaction, so that the
-- same request sent again with the same key answers the same without writing again. Kept 24 hours.
CREATE TABLE idempotency_keys (
    scope text NOT NULL,               -- the API key's name, the method and the path the key was used with
    key text NOT NULL,
    fingerprint bytea NOT NULL,        -- SHA-256 of the request: method, path, preconditions, body
    status smallint NOT NULL DEFAULT 0,
    headers jsonb NOT NULL DEFAULT '{}',
    body bytea NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
