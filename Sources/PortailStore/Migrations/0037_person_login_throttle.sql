-- Failed logins of a person, counted across the federation. Since one login (a person) opens families at
-- several centers, counting a (person, client address) pair per center let one client try 5 passwords at
-- each center's portal before being slowed down. The pair is now counted once, whichever portal is used.
-- The serving role has no rights on the table: it goes through the two functions below, which act only
-- for a person with a family at the current center.
CREATE TABLE person_login_throttle (
    person_id       bigint NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    client          text NOT NULL,
    failures        int NOT NULL DEFAULT 0,
    last_failure_at timestamptz NOT NULL DEFAULT now(),
    blocked_until   timestamptz,
    PRIMARY KEY (person_id, client)
);
CREATE INDEX person_login_throttle_age ON person_login_throttle (last_failure_at);
REVOKE ALL ON person_login_throttle FROM PUBLIC;

-- Charges one attempt to (person, client) before the password is checked, with the rule of
-- LoginThrottle.Rule; NULL when charged, else the end of the block that refuses it.
CREATE FUNCTION portail_person_login_charge(p_person bigint, p_client text, p_free int, p_first float8, p_max float8, p_window float8)
    RETURNS timestamptz
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_charged int;
        v_until timestamptz;
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM family_members m WHERE m.center_id = current_center_id() AND m.person_id = p_person) THEN
            RETURN NULL;
        END IF;
        INSERT INTO person_login_throttle AS t (person_id, client, failures) VALUES (p_person, p_client, 1)
        ON CONFLICT (person_id, client) DO UPDATE SET
            failures = CASE WHEN t.last_failure_at < now() - make_interval(secs => p_window) THEN 1 ELSE t.failures + 1 END,
            last_failure_at = now(),
            blocked_until = CASE
                WHEN t.last_failure_at < now() - make_interval(secs => p_window) THEN NULL
                WHEN t.failures + 1 >= p_free
                THEN now() + make_interval(secs => least(p_max, p_first * power(2, least(t.failures + 1 - p_free, 20))))
                ELSE NULL END
        WHERE t.blocked_until IS NULL OR t.blocked_until <= now()
        RETURNING 1 INTO v_charged;
        IF v_charged IS NOT NULL THEN
            RETURN NULL;
        END IF;
        SELECT blocked_until INTO v_until FROM person_login_throttle WHERE person_id = p_person AND client = p_client;
        RETURN coalesce(v_until, now());
    END
    $$;

-- A successful login clears its (person, client) pair everywhere.
CREATE FUNCTION portail_person_login_clear(p_person bigint, p_client text)
    RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DELETE FROM person_login_throttle t
    WHERE t.person_id = p_person AND t.client = p_client
      AND EXISTS (SELECT 1 FROM family_members m WHERE m.center_id = current_center_id() AND m.person_id = p_person);
    $$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['portail_person_login_charge(bigint, text, int, float8, float8, float8)', 'portail_person_login_clear(bigint, text)']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO portail_app', f);
    END LOOP;
END
$$;
