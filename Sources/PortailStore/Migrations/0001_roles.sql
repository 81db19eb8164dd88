-- The role the application serves requests with. It owns nothing, so row-level security applies to it.
-- A deployment grants it to its login role: CREATE ROLE web LOGIN PASSWORD '...' IN ROLE portail_app;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'portail_app') THEN
        CREATE ROLE portail_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END
$$;

-- The center of the current transaction: set with SET LOCAL portail.center_id by the store.
CREATE FUNCTION current_center_id() RETURNS bigint
    LANGUAGE sql STABLE
    AS $$ SELECT nullif(current_setting('portail.center_id', true), '')::bigint $$;
