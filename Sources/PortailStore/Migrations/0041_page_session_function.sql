-- A logged-in family's page opens its transaction with one statement instead of two: this function sets
-- the transaction's center (and names the request being served) and reads the session of a cookie, so
-- that the page's first round trip after BEGIN does both. Outside a page's transaction (a form), the
-- session is read through it as well, in a transaction already set to the same center: one place for
-- the session's rules.
--
-- The session's rules: known at this center by the hash of its cookie, before its absolute end and
-- used within the idle timeout (p_idle_seconds), its person still a member of a family that can be
-- entered. `touch`: the idle clock was last moved more than a minute ago (the portal moves it then).
--
-- SECURITY DEFINER: it runs before the center is set, when row-level security would show nothing; it
-- reads only the named center's rows. A cookie's hash is the only key: nothing here gives a session
-- to whoever does not hold its cookie. set_config(..., true) inside a function lasts until the end of
-- the caller's transaction (only search_path, set by the function's own SET clause, is restored).
-- p_request: the request's name for application_name, or '' for none.
CREATE FUNCTION portail_page_session(p_center bigint, p_session bytea, p_idle_seconds double precision, p_request text)
    RETURNS TABLE (family_id bigint, person_id bigint, csrf_token text, touch boolean, sees_invoices boolean,
                   several_families boolean, family_name text, family_category text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        PERFORM set_config('portail.center_id', p_center::text, true);
        IF p_request <> '' THEN
            PERFORM set_config('application_name', p_request, true);
        END IF;
        RETURN QUERY
            SELECT s.family_id, s.person_id, s.csrf_token, s.last_seen_at < now() - interval '1 minute',
                   NOT f.invoices_billing_only OR m.billing_contact, s.several_families, f.name, f.category
            FROM sessions s
            JOIN family_members m ON m.center_id = s.center_id AND m.family_id = s.family_id AND m.person_id = s.person_id
            JOIN families f ON f.center_id = s.center_id AND f.id = s.family_id
            WHERE s.center_id = p_center AND s.id_hash = p_session AND s.expires_at > now()
              AND s.last_seen_at > now() - make_interval(secs => p_idle_seconds)
              AND portail_family_open(f.state, f.signed_up_at, f.erased_at);
    END
    $$;

REVOKE ALL ON FUNCTION portail_page_session(bigint, bytea, double precision, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portail_page_session(bigint, bytea, double precision, text) TO portail_app;
