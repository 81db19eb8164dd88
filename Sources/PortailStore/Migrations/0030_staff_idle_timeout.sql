-- Back-office sessions end after 30 minutes without a request, as the families' do, and never live past 12
-- hours. `expires_at` becomes the idle deadline, pushed back at most once a minute by each request, never past
-- `ends_at`; every function that checks a live session (expires_at > now()) keeps doing so unchanged.
ALTER TABLE staff_sessions ADD COLUMN ends_at timestamptz;
UPDATE staff_sessions SET ends_at = expires_at, expires_at = least(expires_at, now() + interval '30 minutes');
ALTER TABLE staff_sessions ALTER COLUMN ends_at SET NOT NULL;

CREATE OR REPLACE FUNCTION portail_staff_open_session(p_staff bigint, p_token_hash bytea, p_csrf text, p_expires timestamptz)
    RETURNS boolean
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        INSERT INTO staff_sessions (token_hash, staff_id, csrf, ends_at, expires_at)
        SELECT p_token_hash, s.id, p_csrf, least(p_expires, now() + interval '12 hours'),
               least(p_expires, now() + interval '12 hours', now() + interval '30 minutes')
        FROM staff_users s WHERE s.id = p_staff AND s.state = 'active' AND s.password_hash IS NOT NULL
        RETURNING NOT portail_staff_needs_second_factor(p_staff)
    $$;

-- A live session and who holds it; the request it serves pushes its idle deadline back.
CREATE OR REPLACE FUNCTION portail_staff_session(p_token_hash bytea)
    RETURNS TABLE (staff_id bigint, email text, name text, is_federation_admin boolean, csrf text, complete boolean,
                   needs_second_factor boolean, totp_enabled boolean)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        UPDATE staff_sessions x SET expires_at = least(x.ends_at, now() + interval '30 minutes')
        WHERE x.token_hash = p_token_hash AND x.expires_at > now()
          AND x.expires_at < least(x.ends_at, now() + interval '29 minutes');
        RETURN QUERY
        SELECT s.id, s.email, s.name, s.is_federation_admin, x.csrf,
               x.second_factor OR NOT portail_staff_needs_second_factor(s.id),
               portail_staff_needs_second_factor(s.id), s.totp_secret IS NOT NULL
        FROM staff_sessions x JOIN staff_users s ON s.id = x.staff_id
        WHERE x.token_hash = p_token_hash AND x.expires_at > now() AND s.state = 'active';
    END
    $$;
