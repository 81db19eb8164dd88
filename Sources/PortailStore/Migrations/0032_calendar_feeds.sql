-- Private calendar feeds (iCalendar) of a family's confirmed days, one per device a parent subscribes
-- from, for all the children or one: the secret address is shown once, the table keeps its SHA-256, and
-- each link is withdrawn on its own.
CREATE TABLE calendar_feeds (
    center_id     bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    family_id     bigint NOT NULL,
    child_id      bigint,
    label         text NOT NULL CHECK (length(label) <= 60),
    token_hash    bytea NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_read_at  timestamptz,
    revoked_at    timestamptz,
    PRIMARY KEY (center_id, id),
    UNIQUE (center_id, token_hash),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id),
    FOREIGN KEY (center_id, child_id) REFERENCES children (center_id, id)
);
CREATE INDEX calendar_feeds_family ON calendar_feeds (center_id, family_id) WHERE revoked_at IS NULL;
ALTER TABLE calendar_feeds ENABLE ROW LEVEL SECURITY;
ALTER TABLE calendar_feeds FORCE ROW LEVEL SECURITY;
CREATE POLICY calendar_feeds_tenant ON calendar_feeds TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY calendar_feeds_owner ON calendar_feeds TO %I '
        'USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;
GRANT SELECT, INSERT, UPDATE ON calendar_feeds TO portail_app;
