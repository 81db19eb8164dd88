-- Issue 11: roles that cannot be climbed, and the database as the last wall.
--
-- The application role (portail_app) can no longer read password hashes or API token hashes, nor
-- create staff accounts: a few SECURITY DEFINER functions, owned by the schema owner, do exactly the
-- one thing each request path needs and nothing more. Tenant tables force row-level security on their
-- owner too, so that an application wrongly connected as the owner stays inside the center it set.

-- Invitations: a person given a role at a center receives a single-use code by e-mail and exchanges
-- it for an API token of their own (no one ever hands out a token for someone else's account).
CREATE TABLE staff_invitations (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_id    bigint NOT NULL REFERENCES staff_users (id),
    center_id   bigint NOT NULL REFERENCES centers (id),
    code_hash   bytea NOT NULL UNIQUE,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX staff_invitations_staff ON staff_invitations (staff_id) WHERE used_at IS NULL;

-- Which center a token was created for, when a manager's invitation created it (for listing by center).
ALTER TABLE api_tokens ADD COLUMN center_id bigint REFERENCES centers (id);

-- Whether a family has chosen a password, readable without the hash.
ALTER TABLE families ADD COLUMN has_password boolean GENERATED ALWAYS AS (password_hash IS NOT NULL) STORED;

-- Column privileges: everything but the secrets.
REVOKE SELECT, INSERT ON staff_users FROM portail_app;
GRANT SELECT (id, email, name, is_federation_admin, state, created_at) ON staff_users TO portail_app;
REVOKE SELECT, UPDATE ON api_tokens FROM portail_app;
GRANT SELECT (id, staff_id, label, created_at, expires_at, revoked_at, last_used_at, center_id) ON api_tokens TO portail_app;
GRANT UPDATE (revoked_at) ON api_tokens TO portail_app;
REVOKE SELECT ON families FROM portail_app;
GRANT SELECT (center_id, id, email, name, address_lines, postcode, city, phone, state, created_at, category, has_password)
    ON families TO portail_app;
GRANT SELECT (id, staff_id, center_id, created_by, created_at, expires_at, used_at) ON staff_invitations TO portail_app;

-- The staff member of a live token (not revoked, not expired, account active), its use recorded.
CREATE FUNCTION portail_authenticate_token(p_hash bytea)
    RETURNS TABLE (staff_id bigint, email text, is_federation_admin boolean)
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        UPDATE api_tokens t SET last_used_at = now()
        FROM staff_users s
        WHERE t.token_hash = p_hash AND t.revoked_at IS NULL AND t.expires_at > now()
          AND s.id = t.staff_id AND s.state = 'active'
        RETURNING s.id, s.email, s.is_federation_admin
    $$;

-- A new token for a staff member: the hash goes in, nothing comes out but its id.
CREATE FUNCTION portail_issue_token(p_staff bigint, p_label text, p_hash bytea, p_expires timestamptz, p_center bigint)
    RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        INSERT INTO api_tokens (staff_id, label, token_hash, expires_at, center_id)
        VALUES (p_staff, p_label, p_hash, p_expires, p_center) RETURNING id
    $$;
REVOKE INSERT ON api_tokens FROM portail_app;

-- Where a person stands in the federation, seen from center p_center: their account if any, whether
-- it is a federation administrator, and how many other centers give them a role. (It reads every
-- center's roles: it unsets the center while it reads, which the owner's policy allows, then sets
-- it back.)
CREATE FUNCTION portail_staff_standing(p_email text, p_center bigint)
    RETURNS TABLE (staff_id bigint, is_federation_admin boolean, roles_elsewhere int)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_center text := current_setting('portail.center_id', true);
    BEGIN
        PERFORM set_config('portail.center_id', '', true);
        RETURN QUERY
            SELECT s.id, s.is_federation_admin,
                   (SELECT count(*)::int FROM staff_center_roles r WHERE r.staff_id = s.id AND r.center_id <> p_center)
            FROM staff_users s WHERE lower(s.email) = lower(p_email);
        PERFORM set_config('portail.center_id', coalesce(v_center, ''), true);
    END
    $$;

-- Creates a center staff account (never a federation administrator) and returns its id.
CREATE FUNCTION portail_create_staff_account(p_email text, p_name text)
    RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        INSERT INTO staff_users (email, name, is_federation_admin) VALUES (p_email, p_name, false) RETURNING id
    $$;

-- An invitation for a staff member of the current center.
CREATE FUNCTION portail_invite(p_staff bigint, p_code_hash bytea, p_by text, p_expires timestamptz)
    RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        INSERT INTO staff_invitations (staff_id, center_id, code_hash, created_by, expires_at)
        SELECT p_staff, current_center_id(), p_code_hash, p_by, p_expires
        WHERE current_center_id() IS NOT NULL
        RETURNING id
    $$;

-- Exchanges a live invitation code for a new token of the invited person (the code is then used,
-- with the person's other invitations); nothing when the code is unknown, used or expired.
CREATE FUNCTION portail_accept_invitation(p_code_hash bytea, p_token_hash bytea, p_label text, p_expires timestamptz)
    RETURNS TABLE (staff_id bigint, email text, token_id bigint, center_id bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_staff bigint;
        v_center bigint;
        v_token bigint;
    BEGIN
        UPDATE staff_invitations i SET used_at = now()
        WHERE i.code_hash = p_code_hash AND i.used_at IS NULL AND i.expires_at > now()
        RETURNING i.staff_id, i.center_id INTO v_staff, v_center;
        IF v_staff IS NULL THEN
            RETURN;
        END IF;
        INSERT INTO api_tokens (staff_id, label, token_hash, expires_at, center_id)
        VALUES (v_staff, p_label, p_token_hash, p_expires, v_center) RETURNING id INTO v_token;
        RETURN QUERY SELECT s.id, s.email, v_token, v_center FROM staff_users s WHERE s.id = v_staff AND s.state = 'active';
    END
    $$;

-- The login check needs one family's hash at the current center, never a list of them.
CREATE FUNCTION portail_family_credentials(p_email text)
    RETURNS TABLE (id bigint, password_hash text, state text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT f.id, f.password_hash, f.state FROM families f
        WHERE f.center_id = current_center_id() AND lower(f.email) = lower(p_email)
    $$;

-- Suspending or resuming a center (federation administrators, through the API).
CREATE FUNCTION portail_set_center_state(p_code text, p_state text)
    RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        UPDATE centers SET state = p_state, updated_at = now() WHERE code = p_code AND p_state IN ('active', 'suspended') RETURNING id
    $$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'portail_authenticate_token(bytea)', 'portail_issue_token(bigint, text, bytea, timestamptz, bigint)',
        'portail_staff_standing(text, bigint)', 'portail_create_staff_account(text, text)',
        'portail_invite(bigint, bytea, text, timestamptz)', 'portail_accept_invitation(bytea, bytea, text, timestamptz)',
        'portail_family_credentials(text)', 'portail_set_center_state(text, text)'
    ]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO portail_app', f);
    END LOOP;
END
$$;

-- Tokens expire: the ones created before this change get the default 90 days from now.
UPDATE api_tokens SET expires_at = now() + interval '90 days' WHERE expires_at IS NULL;
ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL;

-- Row-level security applies to the tables' owner too. The owner (migrations, imports) sees every
-- center when it sets none, and only the center it set otherwise.
DO $$
DECLARE
    t text;
BEGIN
    FOR t IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity
    LOOP
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I TO %I USING (current_center_id() IS NULL OR center_id = current_center_id()) '
            'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())',
            t || '_owner', t, current_user);
    END LOOP;
END
$$;
