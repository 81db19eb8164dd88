-- From the back office: a person creates an API token for their own scripts, from a complete session
-- (second factor given when one is required); and an authenticator app lost with its recovery codes is
-- reset by a federation administrator, or by a manager for someone who works at their center only (not
-- their own, nor a federation administrator's): the secret and recovery codes are cleared and the
-- person's sessions end, so that the next sign-in enrols a new app.
CREATE FUNCTION portail_staff_session_token(p_session_hash bytea, p_label text, p_hash bytea, p_expires timestamptz)
    RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        INSERT INTO api_tokens (staff_id, label, token_hash, expires_at)
        SELECT s.id, p_label, p_hash, p_expires
        FROM staff_sessions x JOIN staff_users s ON s.id = x.staff_id
        WHERE x.token_hash = p_session_hash AND x.expires_at > now() AND s.state = 'active'
          AND (x.second_factor OR NOT portail_staff_needs_second_factor(s.id))
          AND p_expires > now() AND p_expires <= now() + interval '366 days'
        RETURNING id
    $$;

CREATE FUNCTION portail_staff_reset_totp(p_session_hash bytea, p_staff bigint)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_caller bigint;
        v_federation boolean;
        v_center bigint := current_center_id();
        v_setting text := current_setting('portail.center_id', true);
        v_elsewhere boolean;
    BEGIN
        SELECT s.id, s.is_federation_admin INTO v_caller, v_federation
        FROM staff_sessions x JOIN staff_users s ON s.id = x.staff_id
        WHERE x.token_hash = p_session_hash AND x.expires_at > now() AND s.state = 'active' AND x.second_factor;
        IF v_caller IS NULL OR v_caller = p_staff THEN
            RETURN false;
        END IF;
        IF NOT v_federation THEN
            -- Roles at other centers are hidden while a center is set: look with none, then set it back.
            PERFORM set_config('portail.center_id', '', true);
            v_elsewhere := EXISTS (SELECT 1 FROM staff_center_roles r WHERE r.staff_id = p_staff AND r.center_id <> v_center);
            PERFORM set_config('portail.center_id', coalesce(v_setting, ''), true);
            IF v_center IS NULL OR v_elsewhere
                OR NOT EXISTS (SELECT 1 FROM staff_center_roles r WHERE r.center_id = v_center AND r.staff_id = v_caller AND r.role = 'manager')
                OR NOT EXISTS (SELECT 1 FROM staff_center_roles r WHERE r.center_id = v_center AND r.staff_id = p_staff)
                OR EXISTS (SELECT 1 FROM staff_users u WHERE u.id = p_staff AND u.is_federation_admin) THEN
                RETURN false;
            END IF;
        END IF;
        UPDATE staff_users SET totp_secret = NULL, totp_pending_secret = NULL, totp_last_step = 0 WHERE id = p_staff;
        DELETE FROM staff_recovery_codes WHERE staff_id = p_staff;
        DELETE FROM staff_sessions WHERE staff_id = p_staff;
        RETURN true;
    END
    $$;

REVOKE ALL ON FUNCTION portail_staff_session_token(bytea, text, bytea, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portail_staff_session_token(bytea, text, bytea, timestamptz) TO portail_app;
REVOKE ALL ON FUNCTION portail_staff_reset_totp(bytea, bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portail_staff_reset_totp(bytea, bigint) TO portail_app;
