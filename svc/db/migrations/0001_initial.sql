-- Applications and their named configurations.
CREATE TABLE applications (
    id          varchar(26) PRIMARY KEY,
    name        varchar(256) NOT NULL CHECK (char_length(name) >= 1),
    comments    varchar(1024),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT applications_name_key UNIQUE (name)
);

CREATE TABLE configurations (
    id              varchar(26) PRIMARY KEY,
    application_id  varchar(26) NOT NULL,
    name            varchar(256) NOT NULL CHECK (char_length(name) >= 1),
    comments        varchar(1024),
    config          jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(config) = 'object'),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT configurations_application_id_fkey
        FOREIGN KEY (application_id) REFERENCES applications (id) ON DELETE CASCADE,
    -- Also the index behind "the configurations of an application", in id order via the key below.
    CONSTRAINT configurations_application_id_name_key UNIQUE (application_id, name)
);

-- Keyset pages of one application's configurations, and its configuration_ids, in ULID order.
CREATE INDEX configurations_application_id_id_idx ON configurations (application_id, id);
