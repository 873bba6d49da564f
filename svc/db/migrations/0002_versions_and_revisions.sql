-- Versions for optimistic concurrency (ETags) and the immutable history of every configuration.
ALTER TABLE applications ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);
ALTER TABLE applications ALTER COLUMN version DROP DEFAULT;
ALTER TABLE configurations ADD COLUMN version integer NOT NULL DEFAULT 1 CHECK (version >= 1);
ALTER TABLE configurations ALTER COLUMN version DROP DEFAULT;

CREATE TABLE configuration_revisions (
    configuration_id  varchar(26) NOT NULL,
    version           integer NOT NULL CHECK (version >= 1),
    name              varchar(256) NOT NULL,
    comments          varchar(1024),
    config            jsonb NOT NULL,
    created_at        timestamptz NOT NULL,
    CONSTRAINT configuration_revisions_pkey PRIMARY KEY (configuration_id, version),
    CONSTRAINT configuration_revisions_configuration_id_fkey
        FOREIGN KEY (configuration_id) REFERENCES configurations (id) ON DELETE CASCADE
);

-- Existing configurations start their history at version 1.
INSERT INTO configuration_revisions (configuration_id, version, name, comments, config, created_at)
SELECT id, 1, name, comments, config, updated_at FROM configurations;
