-- Each worker keeps a copy of what it reads (cache.py), made stale by the notifications of 0004. Two changes had
-- none: a created application (it changes the application listing), and TRUNCATE, which fires no row trigger.
-- TRUNCATE now sends 'reset', on which every worker forgets its whole copy.
CREATE TRIGGER applications_notify_insert AFTER INSERT ON applications
    FOR EACH ROW EXECUTE FUNCTION applications_notify();

CREATE FUNCTION config_service_notify_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('config_service', 'reset');
    RETURN NULL;
END
$$;

CREATE TRIGGER applications_notify_truncate AFTER TRUNCATE ON applications
    FOR EACH STATEMENT EXECUTE FUNCTION config_service_notify_reset();
CREATE TRIGGER configurations_notify_truncate AFTER TRUNCATE ON configurations
    FOR EACH STATEMENT EXECUTE FUNCTION config_service_notify_reset();
