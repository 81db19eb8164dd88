-- Issue 15, item 6: one login per parent. A person (an e-mail and a password) belongs to one or more
-- families, at one or more centers of the federation; after login they switch between them. Each
-- family keeps its own money; a center sees only the people who belong to its families.
--
-- people: federation-wide, one row per login address. The application reads only the address of the
-- people who belong to a family of the center it set (policy below), never a password hash; people
-- are created, and passwords set, only through the SECURITY DEFINER functions of this file.
CREATE TABLE people (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email            text NOT NULL CHECK (length(email) <= 254),
    password_hash    text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    password_set_at  timestamptz
);
CREATE UNIQUE INDEX people_email ON people (lower(email));

-- Who belongs to which family; the family's billing contact (one at most) may keep its invoices to
-- themself (families.invoices_billing_only).
CREATE TABLE family_members (
    center_id        bigint NOT NULL,
    family_id        bigint NOT NULL,
    person_id        bigint NOT NULL REFERENCES people (id),
    billing_contact  boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- The person's last session in this family (what the staff see: whether the access is used).
    last_login_at    timestamptz,
    PRIMARY KEY (center_id, family_id, person_id),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);
CREATE UNIQUE INDEX family_members_billing ON family_members (center_id, family_id) WHERE billing_contact;
CREATE INDEX family_members_person ON family_members (person_id, center_id);
ALTER TABLE family_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE family_members FORCE ROW LEVEL SECURITY;
CREATE POLICY family_members_tenant ON family_members TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON family_members TO portail_app;
-- The owner (this migration's backfill, imports) is held to the center it sets, as on every tenant table.
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY family_members_owner ON family_members TO %I '
        'USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;

ALTER TABLE people ENABLE ROW LEVEL SECURITY;
-- The members' subquery is itself limited to the current center: a center reads its own people only.
CREATE POLICY people_of_center ON people FOR SELECT TO portail_app
    USING (EXISTS (SELECT 1 FROM family_members m WHERE m.person_id = people.id));
-- Only the address: whether a person has a password elsewhere in the federation is not the center's to know.
GRANT SELECT (id, email) ON people TO portail_app;

ALTER TABLE families ADD COLUMN invoices_billing_only boolean NOT NULL DEFAULT false;
GRANT SELECT (invoices_billing_only) ON families TO portail_app;

-- A family's login address becomes a person; the families of one address, at any center, become one
-- person's. A password moves to the person when the address's open families had exactly one; otherwise
-- each family keeps its own (families.password_hash, still accepted for that family's address at its
-- center while the family is open) until the person chooses a new password, which replaces them all.
-- Erased families have no address left.
INSERT INTO people (email, password_hash, password_set_at)
SELECT min(email),
       CASE WHEN count(DISTINCT password_hash) FILTER (WHERE state <> 'deactivated') = 1
            THEN min(password_hash) FILTER (WHERE state <> 'deactivated') END,
       CASE WHEN count(DISTINCT password_hash) FILTER (WHERE state <> 'deactivated') = 1 THEN now() END
FROM families WHERE erased_at IS NULL GROUP BY lower(email);
UPDATE families f SET password_hash = NULL
FROM people p WHERE lower(p.email) = lower(f.email) AND p.password_hash IS NOT NULL AND f.password_hash = p.password_hash;
INSERT INTO family_members (center_id, family_id, person_id, billing_contact, last_login_at)
SELECT f.center_id, f.id, p.id, true, CASE WHEN f.password_hash IS NOT NULL OR p.password_hash IS NOT NULL THEN f.created_at END
FROM families f JOIN people p ON lower(p.email) = lower(f.email) WHERE f.erased_at IS NULL;

-- A logged-in session is a person's, in one of their families.
-- Whether the person had more than one family to choose from when the session began (the menu's
-- "Changer de famille", without a query on every page).
ALTER TABLE sessions ADD COLUMN person_id bigint REFERENCES people (id),
    ADD COLUMN several_families boolean NOT NULL DEFAULT false;
UPDATE sessions s SET person_id = m.person_id
FROM families f JOIN family_members m ON m.center_id = f.center_id AND m.family_id = f.id
JOIN people p ON p.id = m.person_id AND lower(p.email) = lower(f.email)
WHERE f.center_id = s.center_id AND f.id = s.family_id;
DELETE FROM sessions WHERE family_id IS NOT NULL AND person_id IS NULL;
ALTER TABLE sessions ADD CONSTRAINT sessions_person CHECK ((family_id IS NULL) = (person_id IS NULL));
CREATE INDEX sessions_person ON sessions (person_id) WHERE person_id IS NOT NULL;

-- A mailed link (reset, activation) is for one person, reached through one family of the center.
ALTER TABLE account_tokens ADD COLUMN person_id bigint REFERENCES people (id);
UPDATE account_tokens t SET person_id = p.id
FROM families f JOIN people p ON lower(p.email) = lower(f.email)
WHERE f.center_id = t.center_id AND f.id = t.family_id;
DELETE FROM account_tokens WHERE person_id IS NULL;
ALTER TABLE account_tokens ALTER COLUMN person_id SET NOT NULL;

-- Going from one center's portal to another's without logging in again: a single-use token, valid two
-- minutes, issued at the first center for one family of the second (the row belongs to the second).
CREATE TABLE person_handoffs (
    center_id   bigint NOT NULL,
    token_hash  bytea NOT NULL,
    person_id   bigint NOT NULL REFERENCES people (id),
    family_id   bigint NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (center_id, token_hash),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);
CREATE INDEX person_handoffs_person ON person_handoffs (person_id);
ALTER TABLE person_handoffs ENABLE ROW LEVEL SECURITY;
ALTER TABLE person_handoffs FORCE ROW LEVEL SECURITY;
CREATE POLICY person_handoffs_tenant ON person_handoffs TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
GRANT SELECT, UPDATE (used_at), DELETE ON person_handoffs TO portail_app;
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY person_handoffs_owner ON person_handoffs TO %I '
        'USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;


-- Whether a family can be entered by its members: not deactivated nor erased, and, for an account
-- created by sign-up, its address proven (the activation link used).
CREATE FUNCTION portail_family_open(p_state text, p_signed_up_at timestamptz, p_erased_at timestamptz)
    RETURNS boolean LANGUAGE sql IMMUTABLE
    AS $$ SELECT p_erased_at IS NULL AND (p_state = 'active' OR (p_state = 'invited' AND p_signed_up_at IS NULL)) $$;

-- The person whose address is the family's own (the family's first member, who receives its mails).
CREATE FUNCTION family_own_person(p_center bigint, p_family bigint)
    RETURNS bigint LANGUAGE sql STABLE
    AS $$
        SELECT m.person_id FROM family_members m
        JOIN families f ON f.center_id = m.center_id AND f.id = m.family_id
        JOIN people p ON p.id = m.person_id AND lower(p.email) = lower(f.email)
        WHERE m.center_id = p_center AND m.family_id = p_family
    $$;

-- What the login checks for one address at the current center: the person (their stored address, their
-- password hash) and a row per family of theirs here (with the family's own password when the address is
-- the family's). Nothing for a person who has no family at this center: a center never reads the hash
-- of someone who is not one of its own.
DROP FUNCTION portail_family_credentials(text);
CREATE FUNCTION portail_person_credentials(p_email text)
    RETURNS TABLE (person_id bigint, email text, password_hash text, family_id bigint, family_state text, family_open boolean,
                   family_password_hash text, own_address boolean)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT p.id, p.email, p.password_hash, f.id, f.state, portail_family_open(f.state, f.signed_up_at, f.erased_at),
               CASE WHEN lower(f.email) = lower(p.email) THEN f.password_hash END, lower(f.email) = lower(p.email)
        FROM people p
        JOIN family_members m ON m.person_id = p.id AND m.center_id = current_center_id()
        JOIN families f ON f.center_id = m.center_id AND f.id = m.family_id
        WHERE lower(p.email) = lower(p_email)
        ORDER BY f.id
    $$;

-- The person of an address, created without a password when there is none.
CREATE FUNCTION portail_person_for(p_email text)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_id bigint;
    BEGIN
        INSERT INTO people (email) VALUES (p_email) ON CONFLICT ((lower(email))) DO NOTHING RETURNING id INTO v_id;
        IF v_id IS NULL THEN
            SELECT id INTO v_id FROM people WHERE lower(email) = lower(p_email);
        END IF;
        RETURN v_id;
    END
    $$;

-- Uses a mailed link of the current center (reset or activation): the person's new password replaces
-- the own password of every family whose address is theirs; their sessions, links and handoffs at every
-- center end; the family the link came through is active. Nothing when the link is not live.
CREATE FUNCTION portail_use_account_token(p_token_hash bytea, p_purpose text, p_password_hash text)
    RETURNS TABLE (family_id bigint, person_id bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_center bigint := current_center_id();
        v_family bigint;
        v_person bigint;
    BEGIN
        UPDATE account_tokens t SET used_at = now()
        FROM families f
        WHERE t.center_id = v_center AND t.token_hash = p_token_hash AND t.purpose = p_purpose
          AND t.used_at IS NULL AND t.expires_at > now()
          AND f.center_id = t.center_id AND f.id = t.family_id AND f.state <> 'deactivated' AND f.erased_at IS NULL
          AND EXISTS (SELECT 1 FROM family_members m WHERE m.center_id = t.center_id AND m.family_id = t.family_id AND m.person_id = t.person_id)
        RETURNING t.family_id, t.person_id INTO v_family, v_person;
        IF v_family IS NULL THEN
            RETURN;
        END IF;
        UPDATE families SET state = 'active' WHERE center_id = v_center AND id = v_family AND state <> 'deactivated';
        UPDATE people SET password_hash = p_password_hash, password_set_at = now() WHERE id = v_person;
        PERFORM set_config('portail.center_id', '', true);
        -- Every other link and handoff of the person, at every center, is void.
        UPDATE account_tokens SET used_at = now() WHERE account_tokens.person_id = v_person AND used_at IS NULL;
        DELETE FROM person_handoffs WHERE person_handoffs.person_id = v_person;
        -- Only the families whose own address is the person's held a password of theirs.
        UPDATE families f SET password_hash = NULL
        FROM family_members m JOIN people p ON p.id = m.person_id
        WHERE m.person_id = v_person AND f.center_id = m.center_id AND f.id = m.family_id AND f.password_hash IS NOT NULL
          AND lower(f.email) = lower(p.email);
        DELETE FROM sessions WHERE sessions.person_id = v_person;
        PERFORM set_config('portail.center_id', v_center::text, true);
        RETURN QUERY SELECT v_family, v_person;
    END
    $$;

-- The person of a live session of the current center (its cookie's SHA-256), in a family they may enter.
CREATE FUNCTION portail_session_person(p_session bytea)
    RETURNS bigint LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        SELECT s.person_id FROM sessions s
        JOIN family_members m ON m.center_id = s.center_id AND m.family_id = s.family_id AND m.person_id = s.person_id
        JOIN families f ON f.center_id = s.center_id AND f.id = s.family_id
        WHERE s.center_id = current_center_id() AND s.id_hash = p_session AND s.expires_at > now()
          AND portail_family_open(f.state, f.signed_up_at, f.erased_at)
    $$;

-- Every family the person of a live session may enter, at every center (the switcher).
CREATE FUNCTION portail_person_families(p_session bytea)
    RETURNS TABLE (center_id bigint, family_id bigint, family_name text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_center text := current_setting('portail.center_id', true);
        v_person bigint := portail_session_person(p_session);
    BEGIN
        IF v_person IS NULL THEN
            RETURN;
        END IF;
        PERFORM set_config('portail.center_id', '', true);
        RETURN QUERY
            SELECT f.center_id, f.id, f.name FROM family_members m
            JOIN families f ON f.center_id = m.center_id AND f.id = m.family_id
            JOIN centers c ON c.id = f.center_id AND c.state = 'active'
            WHERE m.person_id = v_person AND portail_family_open(f.state, f.signed_up_at, f.erased_at)
            ORDER BY f.center_id, f.id;
        PERFORM set_config('portail.center_id', coalesce(v_center, ''), true);
    END
    $$;

-- A handoff to another center's portal for the person of a live session of the current center, to a
-- family of theirs there that they may enter; false (nothing written) otherwise.
CREATE FUNCTION portail_issue_handoff(p_session bytea, p_center bigint, p_family bigint, p_token_hash bytea)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_center text := current_setting('portail.center_id', true);
        v_person bigint := portail_session_person(p_session);
        v_done boolean := false;
    BEGIN
        IF v_person IS NULL THEN
            RETURN false;
        END IF;
        PERFORM set_config('portail.center_id', p_center::text, true);
        INSERT INTO person_handoffs (center_id, token_hash, person_id, family_id, expires_at)
        SELECT m.center_id, p_token_hash, m.person_id, m.family_id, now() + interval '2 minutes'
        FROM family_members m JOIN families f ON f.center_id = m.center_id AND f.id = m.family_id
        JOIN centers c ON c.id = f.center_id AND c.state = 'active'
        WHERE m.center_id = p_center AND m.family_id = p_family AND m.person_id = v_person
          AND portail_family_open(f.state, f.signed_up_at, f.erased_at)
        RETURNING true INTO v_done;
        PERFORM set_config('portail.center_id', coalesce(v_center, ''), true);
        RETURN coalesce(v_done, false);
    END
    $$;

-- A person who no longer belongs to any family is forgotten (their address is personal data).
CREATE FUNCTION portail_forget_person_if_alone(p_person bigint)
    RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
    DECLARE
        v_center text := current_setting('portail.center_id', true);
        v_gone boolean := false;
    BEGIN
        PERFORM set_config('portail.center_id', '', true);
        IF NOT EXISTS (SELECT 1 FROM family_members WHERE person_id = p_person) THEN
            DELETE FROM person_handoffs WHERE person_id = p_person;
            DELETE FROM sessions WHERE person_id = p_person;
            DELETE FROM account_tokens WHERE person_id = p_person;
            DELETE FROM people WHERE id = p_person;
            v_gone := true;
        END IF;
        PERFORM set_config('portail.center_id', coalesce(v_center, ''), true);
        RETURN v_gone;
    END
    $$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        'portail_person_credentials(text)', 'portail_person_for(text)', 'portail_use_account_token(bytea, text, text)',
        'portail_session_person(bytea)', 'portail_person_families(bytea)', 'portail_issue_handoff(bytea, bigint, bigint, bytea)',
        'portail_forget_person_if_alone(bigint)'
    ]
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO portail_app', f);
    END LOOP;
END
$$;
