-- A read of the past in one round trip (issue 26). Finding the point a read asks for takes up to six statements
-- (the clock, the writes to wait for, the application, the position at a time, the committed position, its time),
-- and a configuration's read two more (its owner, its state then). Each was a round trip from the service; here
-- they are the statements of one function, planned once per connection as prepared statements are (PL/pgSQL
-- keeps each statement's plan), and each sees the commits before it (a VOLATILE function takes a snapshot per
-- statement, as the separate statements did). repositories/history.py says what each step means and answers the
-- problems named in `problem`.

-- The last position of the last transaction whose changes were all recorded by `p_at`, by its definition: reads
-- every change of the application. For a time before migration 0010's changes (no `txid`), and the tests' oracle.
CREATE FUNCTION history_position_every(p_application varchar, p_at timestamptz) RETURNS bigint
LANGUAGE sql STABLE AS $$
SELECT coalesce(max(c.seq), 0) FROM changes c
WHERE c.application_id = p_application AND c.recorded_at <= p_at
  AND NOT EXISTS (SELECT 1 FROM changes t WHERE t.application_id = c.application_id AND t.txid = c.txid
                                            AND t.recorded_at > p_at)
$$;

-- The point a read of application `p_application`'s past asks for: by feed position `p_seq` or by time `p_at`
-- (exactly one). `problem` names why there is none: 'future', 'no_application', 'before' (the application did
-- not exist then), 'beyond' (the feed ends at `last_change`), 'not_recorded', 'pruned' (before `history_from`).
CREATE FUNCTION history_position(p_application varchar, p_seq bigint, p_at timestamptz,
    OUT problem text, OUT seq bigint, OUT recorded_at timestamptz, OUT last_change bigint, OUT history_from bigint)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_app record;
    v_seq bigint := p_seq;
    v_txid xid8;
    v_recorded timestamptz;
BEGIN
    IF p_at IS NOT NULL THEN
        -- The clock first, then wait for the write holding the application's row, if it could have recorded a
        -- change by then: each change recorded by `p_at` has then committed, and one recorded later is later than
        -- `p_at`. A write records its changes while it holds the row, from after the commit of the write before
        -- it; so when a change recorded after `p_at` has committed, the write holding the row now (if any) recorded
        -- after `p_at` too, and nothing is waited for. (Waiting takes a row lock: a transaction id, a WAL flush at
        -- its end, a MultiXact when readers share it; held to the end of this read.)
        IF p_at > clock_timestamp() THEN
            problem := 'future';
            RETURN;
        END IF;
        IF NOT EXISTS (SELECT 1 FROM changes c WHERE c.application_id = p_application AND c.recorded_at > p_at) THEN
            PERFORM 1 FROM applications a WHERE a.id = p_application FOR SHARE;
        END IF;
    END IF;
    SELECT a.created_at, a.last_change, a.history_from INTO v_app FROM applications a WHERE a.id = p_application;
    IF NOT FOUND THEN
        problem := 'no_application';
        RETURN;
    END IF;
    last_change := v_app.last_change;
    history_from := v_app.history_from;
    IF p_at IS NOT NULL THEN
        IF p_at < v_app.created_at THEN
            problem := 'before';
            RETURN;
        END IF;
        -- The transaction T of the change recorded last by then; its changes are numbered consecutively: its last
        -- position when it had recorded all of them by then, else the position before its first.
        SELECT c.txid INTO v_txid FROM changes c WHERE c.application_id = p_application AND c.recorded_at <= p_at
        ORDER BY c.recorded_at DESC, c.seq DESC LIMIT 1;
        IF NOT FOUND THEN
            v_seq := 0;
        ELSIF v_txid IS NULL THEN
            v_seq := history_position_every(p_application, p_at);
        ELSE
            SELECT CASE WHEN bool_or(t.recorded_at > p_at) THEN min(t.seq) - 1 ELSE max(t.seq) END INTO v_seq
            FROM changes t WHERE t.application_id = p_application AND t.txid = v_txid;
        END IF;
    END IF;
    IF v_seq > v_app.last_change THEN
        problem := 'beyond';
        RETURN;
    END IF;
    IF v_seq > 0 THEN
        -- A position inside one transaction's changes reads the position before its first.
        SELECT c.txid INTO v_txid FROM changes c WHERE c.application_id = p_application AND c.seq = v_seq;
        IF NOT FOUND THEN
            problem := 'not_recorded';
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM changes n WHERE n.application_id = p_application AND n.seq = v_seq + 1
                                             AND n.txid = v_txid) THEN
            SELECT min(t.seq) - 1 INTO v_seq FROM changes t WHERE t.application_id = p_application AND t.txid = v_txid;
        END IF;
        SELECT r.recorded_at INTO v_recorded FROM changes r WHERE r.application_id = p_application AND r.seq = v_seq;
    END IF;
    IF v_seq < v_app.history_from THEN
        problem := 'pruned';
        RETURN;
    END IF;
    seq := v_seq;
    recorded_at := v_recorded;
END
$$;

-- Configuration `p_id` as it was at a point of its application's history: the application it belongs (or
-- belonged) to ('no_configuration' when none), the point (as history_position), and the revision current then
-- ('not_then' when it did not exist then).
CREATE FUNCTION history_configuration_at(p_id varchar, p_seq bigint, p_at timestamptz,
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
    -- Its last change up to then, unless a deletion, names the revision current then.
    SELECT c.kind, c.version INTO v_kind, v_version FROM changes c
    WHERE c.configuration_id = p_id AND c.seq <= v_point.seq AND c.environment_id IS NULL
      AND c.application_id = v_application
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
