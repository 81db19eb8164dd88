-- A family whose personal data was erased (RGPD) stays as an account with no identity, so that its
-- reservations and accounting records keep their numbers: it is marked, and no one reactivates,
-- invites, edits or books for it again.
ALTER TABLE families ADD COLUMN erased_at timestamptz;
GRANT SELECT (erased_at) ON families TO portail_app;

-- The audit log is append-only for the application: erasing a family rewrites, through this function
-- only, the entries of the current center that name it by its e-mail (its own, checked here), so that
-- they name it by its number and keep who did what and when, without what it said.
CREATE FUNCTION portail_erase_family_audit(p_family bigint, p_email text)
    RETURNS void
    LANGUAGE sql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
        UPDATE audit_log SET subject = 'famille ' || p_family, before = NULL, after = NULL
        WHERE center_id = current_center_id() AND lower(subject) = lower(p_email)
          AND EXISTS (SELECT 1 FROM families f WHERE f.center_id = current_center_id() AND f.id = p_family
                      AND lower(f.email) = lower(p_email) AND f.erased_at IS NULL)
    $$;
REVOKE ALL ON FUNCTION portail_erase_family_audit(bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portail_erase_family_audit(bigint, text) TO portail_app;
