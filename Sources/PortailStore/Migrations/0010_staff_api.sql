-- Idempotency keys of the admin API's money movements: the same key answers the same response.
CREATE TABLE api_idempotency (
    center_id   bigint NOT NULL REFERENCES centers (id),
    key         text NOT NULL,
    status      integer NOT NULL,
    response    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, key)
);
ALTER TABLE api_idempotency ENABLE ROW LEVEL SECURITY;
CREATE POLICY api_idempotency_tenant ON api_idempotency TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
GRANT SELECT, INSERT ON api_idempotency TO portail_app;
