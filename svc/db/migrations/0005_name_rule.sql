-- Names are identifiers people read (names.py): in Unicode NFC, not blank, without leading or trailing
-- whitespace, without control or format characters (categories Cc and Cf). The service enforces the rule on every
-- write from this release on. Names stored before it are checked here; while any breaks the rule, the migration
-- stops and names them, rather than renaming anything behind its owners' backs (clients look configurations up
-- by name). To go on: rename each one it names with the release you run now (PUT with a new name), or in SQL,
-- then run the migration again.
DO $check$
DECLARE
    total integer;
    listed text;
BEGIN
    CREATE TEMPORARY TABLE broken_names ON COMMIT DROP AS
    SELECT kind, id, name FROM (
        SELECT 'application' AS kind, id, name FROM applications
        UNION ALL
        SELECT 'configuration' AS kind, id, name FROM configurations
    ) stored
    WHERE name !~ '^[^ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb](?:[^\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]*[^ \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000-\u001f\u007f-\u009f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb])?$'
       OR name ~ '[\U000110BD\U000110CD\U00013430-\U0001343F\U0001BCA0-\U0001BCA3\U0001D173-\U0001D17A\U000E0001\U000E0020-\U000E007F]'
       OR CASE WHEN current_setting('server_encoding') = 'UTF8' THEN name IS NOT NFC NORMALIZED ELSE false END;
    SELECT count(*) INTO total FROM broken_names;
    IF total > 0 THEN
        SELECT string_agg(format('%s %s %s', kind, id, to_json(name)), '; ' ORDER BY kind, id) INTO listed
        FROM (SELECT * FROM broken_names ORDER BY kind, id LIMIT 20) first;
        RAISE EXCEPTION '% stored name(s) break the naming rule (NFC, not blank, no leading or trailing whitespace, no control or format characters): %', total, listed
            USING HINT = 'Rename them with the release you run now (PUT with a new name), or in SQL, for example '
                         'UPDATE configurations SET name = normalize(btrim(name), NFC) WHERE id = ''<id>'', '
                         'then run the migration again.';
    END IF;
END
$check$;
