-- The request that queued a mail (Hummingbird's request id): its X-Portail-Request-Id header, to follow
-- one request through logs, the database (application_name) and mail.
ALTER TABLE mail_outbox ADD COLUMN request_id text CHECK (length(request_id) <= 40);
