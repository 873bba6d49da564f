-- A read of a configuration's past found its state then through a plan that read the whole feed of its
-- application. PL/pgSQL keeps a generic plan of each statement once it costs no more than the custom ones, and the
-- generic plan of "the configuration's last change up to a position, in its application" estimated the rows of
-- `application_id = $1` from the average application: once ANALYZE had seen a feed of some thousands of changes
-- (the bench's PUT rows), it ANDed changes_txid_idx (application_id, txid) with changes_configuration_id_idx,
-- reading every index entry of the application's feed (15,126 for the bench's application of 1,000
-- configurations: 0.63 ms of a 0.88 ms read). The configuration's own changes are a handful, found newest first by
-- changes_configuration_id_idx (configuration_id, seq); the application is checked on those rows only.
-- Measured with two workers, 64 connections, the read cache off, after 12 s of PUTs and ANALYZE: reads by `seq`
-- 1,620-1,750 a second before this migration, 4,354 after it (4,330 before the feed grew).

CREATE OR REPLACE FUNCTION history_configuration_at(p_id varchar, p_seq bigint, p_at timestamptz,
    OUT problem text, OUT application_id varchar, OUT seq bigint, OUT recorded_at timestamptz,
    OUT last_change bigint, OUT history_from bigint, OUT revision configuration_revisions)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_application varchar;
    v_point record;
    v_kind text;
    v_version integer;
BEGIN
    SELECT c.application_id INTO v_application FROM configurations c WHERE c.id = p_id;
    IF NOT FOUND THEN
        SELECT r.application_id INTO v_application FROM configuration_revisions r WHERE r.configuration_id = p_id
        LIMIT 1;
        IF NOT FOUND THEN
            problem := 'no_configuration';
            RETURN;
        END IF;
    END IF;
    application_id := v_application;
    SELECT * INTO v_point FROM history_position(v_application, p_seq, p_at);
    problem := v_point.problem;
    seq := v_point.seq;
    recorded_at := v_point.recorded_at;
    last_change := v_point.last_change;
    history_from := v_point.history_from;
    IF problem IS NOT NULL THEN
        RETURN;
    END IF;
    -- Its last change up to then, unless a deletion, names the revision current then. Found from the
    -- configuration's own changes (changes_configuration_id_idx, newest first); its application is compared as
    -- text so that no index of application_id can serve it (see the head of this file).
    SELECT c.kind, c.version INTO v_kind, v_version FROM changes c
    WHERE c.configuration_id = p_id AND c.seq <= v_point.seq AND c.environment_id IS NULL
      AND c.application_id || '' = v_application
    ORDER BY c.seq DESC LIMIT 1;
    IF NOT FOUND OR v_kind = 'deleted' THEN
        problem := 'not_then';
        RETURN;
    END IF;
    SELECT r.* INTO revision FROM configuration_revisions r WHERE r.configuration_id = p_id AND r.version = v_version;
    IF NOT FOUND THEN
        problem := 'not_then';
    END IF;
END
$$;
