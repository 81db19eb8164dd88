-- The admin API authenticates staff by token: the application role reads staff and tokens, creates
-- and revokes tokens. Staff accounts themselves are created by the owner (CLI) or by federation
-- administrators through the API.
GRANT SELECT, INSERT ON staff_users TO portail_app;
GRANT SELECT, INSERT, UPDATE ON api_tokens TO portail_app;
ALTER TABLE api_tokens ADD COLUMN last_used_at timestamptz;
