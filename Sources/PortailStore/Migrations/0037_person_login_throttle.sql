-- Failed logins and reset mails of a login address, counted across the federation. Since one login (a
-- person) opens families at several centers, counting a (login, client address) pair per center let one
-- client try 5 passwords at each center's portal before being slowed down. The pair is now counted once,
-- whichever portal is used, for every address typed, known or not: whether an address is blocked at a
-- second portal says nothing of the centers it belongs to. The key is the address as typed, lowercased
-- (the login's own lookup); the client part is the caller's address, so nobody blocks anyone but
-- themselves. The serving role has no rights on the table: it goes through the two functions below.
CREATE TABLE person_login_throttle (
    login           text NOT NULL CHECK (login = lower(login) AND length(login) <= 320),
    client          text NOT NULL CHECK (length(client) <= 100),
    failures        int NOT NULL DEFAULT 0,
    last_failure_at timestamptz NOT NULL DEFAULT now(),
    blocked_until   timestamptz,
    PRIMARY KEY (login, client)
);
CREATE INDEX person_login_throttle_age ON person_login_throttle (last_failure_at);
REVOKE ALL ON person_login_throttle FROM PUBLIC;

-- Charges one attempt to (login, client), with the rule of LoginThrottle.Rule; NULL when charged, else
-- the end of the block that refuses it.
CREATE FUNCTION portail_person_login_charge(p_login text, p_client text, p_free int, p_first float8, p_max float8, p_window float8)
    RETURNS timestamptz
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_charged int;
        v_until timestamptz;
    BEGIN
        INSERT INTO person_login_throttle AS t (login, client, failures) VALUES (lower(p_login), p_client, 1)
        ON CONFLICT (login, client) DO UPDATE SET
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
        SELECT blocked_until INTO v_until FROM person_login_throttle WHERE login = lower(p_login) AND client = p_client;
        RETURN coalesce(v_until, now());
    END
    $$;

-- A successful login clears its (login, client) pair everywhere.
CREATE FUNCTION portail_person_login_clear(p_login text, p_client text)
    RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DELETE FROM person_login_throttle t WHERE t.login = lower(p_login) AND t.client = p_client;
    $$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY['portail_person_login_charge(text, text, int, float8, float8, float8)', 'portail_person_login_clear(text, text)']
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO portail_app', f);
    END LOOP;
END
$$;
