-- Staff and federation administrators sign in to the back office (/admin/) with their e-mail and a
-- password, and, for managers and federation administrators, a second factor: a TOTP code from an
-- authenticator app, or one of ten single-use recovery codes. The application role never reads a
-- password hash, a TOTP secret, a recovery code or a session token of staff: it goes through the
-- functions below, which keep the rules (a session is complete only once its second factor is given
-- when one is required; a TOTP step is accepted once; a recovery code once).
ALTER TABLE staff_users
    ADD COLUMN totp_secret text,
    ADD COLUMN totp_pending_secret text,
    ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;

CREATE TABLE staff_recovery_codes (
    staff_id    bigint NOT NULL REFERENCES staff_users (id),
    code_hash   bytea NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (staff_id, code_hash)
);

CREATE TABLE staff_sessions (
    token_hash  bytea PRIMARY KEY,
    staff_id    bigint NOT NULL REFERENCES staff_users (id),
    csrf        text NOT NULL,
    -- A TOTP or recovery code was given in this session. Whether the session is complete is decided at
    -- every lookup (a person promoted to manager meanwhile needs one from then on).
    second_factor boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);
CREATE INDEX staff_sessions_staff ON staff_sessions (staff_id);

-- Failed sign-ins per e-mail and per address (no secret in it: the application keeps it itself).
CREATE TABLE staff_sign_in_failures (
    key             text PRIMARY KEY,
    failures        integer NOT NULL,
    last_failure_at timestamptz NOT NULL DEFAULT now(),
    blocked_until   timestamptz
);
GRANT SELECT, INSERT, UPDATE, DELETE ON staff_sign_in_failures TO portail_app;

-- Whether a person must give a second factor: managers of a center and federation administrators.
CREATE FUNCTION portail_staff_needs_second_factor(p_staff bigint)
    RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT coalesce((SELECT s.is_federation_admin FROM staff_users s WHERE s.id = p_staff), false)
            OR EXISTS (SELECT 1 FROM staff_center_roles r WHERE r.staff_id = p_staff AND r.role = 'manager')
    $$;

-- The sign-in check needs one active person's hash, never a list of them.
CREATE FUNCTION portail_staff_credentials(p_email text)
    RETURNS TABLE (id bigint, password_hash text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT s.id, s.password_hash FROM staff_users s WHERE lower(s.email) = lower(p_email) AND s.state = 'active'
    $$;

-- A session after the password: complete at once only for a person who needs no second factor.
CREATE FUNCTION portail_staff_open_session(p_staff bigint, p_token_hash bytea, p_csrf text, p_expires timestamptz)
    RETURNS boolean
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        INSERT INTO staff_sessions (token_hash, staff_id, csrf, expires_at)
        SELECT p_token_hash, s.id, p_csrf, least(p_expires, now() + interval '12 hours')
        FROM staff_users s WHERE s.id = p_staff AND s.state = 'active' AND s.password_hash IS NOT NULL
        RETURNING NOT portail_staff_needs_second_factor(p_staff)
    $$;

-- A live session and who holds it.
CREATE FUNCTION portail_staff_session(p_token_hash bytea)
    RETURNS TABLE (staff_id bigint, email text, name text, is_federation_admin boolean, csrf text, complete boolean,
                   needs_second_factor boolean, totp_enabled boolean)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT s.id, s.email, s.name, s.is_federation_admin, x.csrf,
               x.second_factor OR NOT portail_staff_needs_second_factor(s.id),
               portail_staff_needs_second_factor(s.id), s.totp_secret IS NOT NULL
        FROM staff_sessions x JOIN staff_users s ON s.id = x.staff_id
        WHERE x.token_hash = p_token_hash AND x.expires_at > now() AND s.state = 'active'
    $$;

CREATE FUNCTION portail_staff_close_session(p_token_hash bytea)
    RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$ DELETE FROM staff_sessions WHERE token_hash = p_token_hash $$;

-- The TOTP secret to check a code against, for the holder of a live session only: the enabled one, or
-- the one being enrolled (a new one is made by portail_staff_begin_totp while none is enabled).
CREATE FUNCTION portail_staff_totp_secret(p_token_hash bytea)
    RETURNS TABLE (secret text, enrolled boolean)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT coalesce(s.totp_secret, s.totp_pending_secret), s.totp_secret IS NOT NULL
        FROM staff_sessions x JOIN staff_users s ON s.id = x.staff_id
        WHERE x.token_hash = p_token_hash AND x.expires_at > now() AND s.state = 'active'
          AND coalesce(s.totp_secret, s.totp_pending_secret) IS NOT NULL
    $$;

CREATE FUNCTION portail_staff_begin_totp(p_token_hash bytea, p_secret text)
    RETURNS boolean
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        UPDATE staff_users s SET totp_pending_secret = p_secret
        FROM staff_sessions x
        WHERE x.token_hash = p_token_hash AND x.expires_at > now() AND s.id = x.staff_id AND s.totp_secret IS NULL
        RETURNING true
    $$;

-- A TOTP code of step p_step was checked by the application: accepted once per step (a code seen is
-- never accepted again), it completes the session; the first one enables the enrolled secret and
-- stores the ten recovery codes' hashes. 'enrolled', 'passed', or NULL when refused.
CREATE FUNCTION portail_staff_pass_totp(p_token_hash bytea, p_step bigint, p_recovery_hashes bytea[])
    RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_staff bigint;
        v_enrolling boolean;
    BEGIN
        SELECT s.id, s.totp_secret IS NULL INTO v_staff, v_enrolling
        FROM staff_sessions x JOIN staff_users s ON s.id = x.staff_id
        WHERE x.token_hash = p_token_hash AND x.expires_at > now() AND s.state = 'active'
          AND coalesce(s.totp_secret, s.totp_pending_secret) IS NOT NULL AND s.totp_last_step < p_step
        FOR UPDATE OF s;
        IF v_staff IS NULL THEN
            RETURN NULL;
        END IF;
        IF v_enrolling THEN
            IF coalesce(array_length(p_recovery_hashes, 1), 0) < 10 THEN
                RETURN NULL;
            END IF;
            UPDATE staff_users SET totp_secret = totp_pending_secret, totp_pending_secret = NULL WHERE id = v_staff;
            DELETE FROM staff_recovery_codes WHERE staff_id = v_staff;
            INSERT INTO staff_recovery_codes (staff_id, code_hash) SELECT v_staff, h FROM unnest(p_recovery_hashes) AS h;
        END IF;
        UPDATE staff_users SET totp_last_step = p_step WHERE id = v_staff;
        UPDATE staff_sessions SET second_factor = true WHERE token_hash = p_token_hash;
        RETURN CASE WHEN v_enrolling THEN 'enrolled' ELSE 'passed' END;
    END
    $$;

-- A recovery code instead of a TOTP code: once each; it completes the session.
CREATE FUNCTION portail_staff_use_recovery_code(p_token_hash bytea, p_code_hash bytea)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    BEGIN
        UPDATE staff_recovery_codes c SET used_at = now()
        FROM staff_sessions x
        WHERE x.token_hash = p_token_hash AND x.expires_at > now() AND c.staff_id = x.staff_id
          AND c.code_hash = p_code_hash AND c.used_at IS NULL;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        UPDATE staff_sessions SET second_factor = true WHERE token_hash = p_token_hash;
        RETURN true;
    END
    $$;

CREATE FUNCTION portail_staff_recovery_codes_left(p_token_hash bytea)
    RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT count(*)::int FROM staff_recovery_codes c JOIN staff_sessions x ON x.staff_id = c.staff_id
        WHERE x.token_hash = p_token_hash AND c.used_at IS NULL
    $$;

-- An invitation's code chooses the invited person's password (the code is then used, with the person's
-- other invitations, and every session of the person closed); nothing when the code is unknown, used or
-- expired.
CREATE FUNCTION portail_staff_set_password(p_code_hash bytea, p_password_hash text)
    RETURNS TABLE (staff_id bigint, email text, center_id bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_staff bigint;
        v_center bigint;
    BEGIN
        -- As portail_accept_invitation: the role must still be there, and never for a federation administrator.
        PERFORM set_config('portail.center_id', '', true);
        UPDATE staff_invitations i SET used_at = now()
        WHERE i.code_hash = p_code_hash AND i.used_at IS NULL AND i.expires_at > now()
          AND EXISTS (SELECT 1 FROM staff_center_roles r WHERE r.center_id = i.center_id AND r.staff_id = i.staff_id)
          AND EXISTS (SELECT 1 FROM staff_users s WHERE s.id = i.staff_id AND NOT s.is_federation_admin AND s.state = 'active')
        RETURNING i.staff_id, i.center_id INTO v_staff, v_center;
        IF v_staff IS NULL THEN
            RETURN;
        END IF;
        UPDATE staff_invitations SET used_at = now() WHERE staff_invitations.staff_id = v_staff AND used_at IS NULL;
        UPDATE staff_users SET password_hash = p_password_hash WHERE id = v_staff;
        DELETE FROM staff_sessions WHERE staff_sessions.staff_id = v_staff;
        RETURN QUERY SELECT s.id, s.email, v_center FROM staff_users s WHERE s.id = v_staff AND s.state = 'active';
    END
    $$;

-- Whether an invitation code is live (the page that chooses a password shows who it is for).
CREATE FUNCTION portail_staff_invitation(p_code_hash bytea)
    RETURNS TABLE (email text, center_id bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT s.email, i.center_id FROM staff_invitations i JOIN staff_users s ON s.id = i.staff_id
        WHERE i.code_hash = p_code_hash AND i.used_at IS NULL AND i.expires_at > now() AND s.state = 'active'
          AND NOT s.is_federation_admin
          AND EXISTS (SELECT 1 FROM staff_center_roles r WHERE r.center_id = i.center_id AND r.staff_id = i.staff_id)
    $$;

-- A new token for a session whose second factor was just given (the token seen before it is void).
CREATE FUNCTION portail_staff_renew_session(p_token_hash bytea, p_new_hash bytea)
    RETURNS boolean
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        UPDATE staff_sessions SET token_hash = p_new_hash
        WHERE token_hash = p_token_hash AND expires_at > now() AND second_factor
        RETURNING true
    $$;

-- The centers where the holder of a session has a role (the back office's list of centers).
CREATE FUNCTION portail_staff_centers(p_token_hash bytea)
    RETURNS TABLE (center_id bigint, role text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT r.center_id, r.role FROM staff_sessions x JOIN staff_center_roles r ON r.staff_id = x.staff_id
        WHERE x.token_hash = p_token_hash AND x.expires_at > now()
          AND (x.second_factor OR NOT portail_staff_needs_second_factor(x.staff_id))
    $$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'portail_staff_needs_second_factor(bigint)', 'portail_staff_credentials(text)',
        'portail_staff_open_session(bigint, bytea, text, timestamptz)', 'portail_staff_session(bytea)',
        'portail_staff_close_session(bytea)', 'portail_staff_totp_secret(bytea)', 'portail_staff_begin_totp(bytea, text)',
        'portail_staff_pass_totp(bytea, bigint, bytea[])', 'portail_staff_use_recovery_code(bytea, bytea)',
        'portail_staff_recovery_codes_left(bytea)', 'portail_staff_set_password(bytea, text)', 'portail_staff_invitation(bytea)',
        'portail_staff_centers(bytea)', 'portail_staff_renew_session(bytea, bytea)'
    ]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO portail_app', f);
    END LOOP;
END
$$;
