-- Review of 0014: the definer functions trust the application role less. With SQL access as
-- portail_app one could have minted a token for any account (a federation administrator's) by naming
-- its id, or by inviting it and accepting the invitation. Now a new token is only ever issued to the
-- caller of a live token, or to the person of an invitation who still holds a role at its center and
-- is not a federation administrator; no token lives longer than a year.

DROP FUNCTION portail_issue_token(bigint, text, bytea, timestamptz, bigint);

-- A new token for the owner of the live token `p_caller_hash` (POST /api/tokens).
CREATE FUNCTION portail_issue_own_token(p_caller_hash bytea, p_label text, p_hash bytea, p_expires timestamptz)
    RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        INSERT INTO api_tokens (staff_id, label, token_hash, expires_at)
        SELECT t.staff_id, p_label, p_hash, p_expires
        FROM api_tokens t JOIN staff_users s ON s.id = t.staff_id
        WHERE t.token_hash = p_caller_hash AND t.revoked_at IS NULL AND t.expires_at > now() AND s.state = 'active'
          AND p_expires > now() AND p_expires <= now() + interval '366 days'
        RETURNING id
    $$;

-- An invitation of the current center, for a person who holds a role there and is not a federation
-- administrator.
CREATE OR REPLACE FUNCTION portail_invite(p_staff bigint, p_code_hash bytea, p_by text, p_expires timestamptz)
    RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        INSERT INTO staff_invitations (staff_id, center_id, code_hash, created_by, expires_at)
        SELECT p_staff, current_center_id(), p_code_hash, p_by, least(p_expires, now() + interval '7 days')
        FROM staff_users s
        WHERE s.id = p_staff AND NOT s.is_federation_admin AND current_center_id() IS NOT NULL
          AND EXISTS (SELECT 1 FROM staff_center_roles r WHERE r.center_id = current_center_id() AND r.staff_id = p_staff)
        RETURNING id
    $$;

-- Accepting checks again that the person still holds a role at the invitation's center (a removed role
-- voids its invitations) and is not a federation administrator.
CREATE OR REPLACE FUNCTION portail_accept_invitation(p_code_hash bytea, p_token_hash bytea, p_label text, p_expires timestamptz)
    RETURNS TABLE (staff_id bigint, email text, token_id bigint, center_id bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_center_setting text := current_setting('portail.center_id', true);
        v_staff bigint;
        v_center bigint;
        v_token bigint;
    BEGIN
        IF p_expires <= now() OR p_expires > now() + interval '366 days' THEN
            RETURN;
        END IF;
        -- Roles of every center are read with no center set (the owner's policy allows it).
        PERFORM set_config('portail.center_id', '', true);
        UPDATE staff_invitations i SET used_at = now()
        WHERE i.code_hash = p_code_hash AND i.used_at IS NULL AND i.expires_at > now()
          AND EXISTS (SELECT 1 FROM staff_center_roles r WHERE r.center_id = i.center_id AND r.staff_id = i.staff_id)
          AND EXISTS (SELECT 1 FROM staff_users s WHERE s.id = i.staff_id AND NOT s.is_federation_admin AND s.state = 'active')
        RETURNING i.staff_id, i.center_id INTO v_staff, v_center;
        IF v_staff IS NOT NULL THEN
            INSERT INTO api_tokens (staff_id, label, token_hash, expires_at, center_id)
            VALUES (v_staff, p_label, p_token_hash, p_expires, v_center) RETURNING id INTO v_token;
            RETURN QUERY SELECT s.id, s.email, v_token, v_center FROM staff_users s WHERE s.id = v_staff;
        END IF;
        PERFORM set_config('portail.center_id', coalesce(v_center_setting, ''), true);
    END
    $$;

REVOKE ALL ON FUNCTION portail_issue_own_token(bytea, text, bytea, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portail_issue_own_token(bytea, text, bytea, timestamptz) TO portail_app;
