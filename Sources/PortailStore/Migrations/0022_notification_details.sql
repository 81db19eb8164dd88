-- What each verified notification said, beside its raw text: the attempt it names, the normalised status
-- and the amount. The staff see the authentic notifications of money taken for no attempt of the portal
-- (another site on the same shop, an attempt lost in a restore ...) beside the flagged attempts, and
-- resolve them the same way; the return page knows that a bank said "pending" (a transfer, a SEPA debit)
-- before the attempt's session ended, and says that the money may still come.
ALTER TABLE payment_notifications
    ADD COLUMN attempt_reference text,
    ADD COLUMN status text,
    ADD COLUMN amount_cents bigint,
    ADD COLUMN provider_status text,
    ADD COLUMN provider_transaction text;
CREATE INDEX payment_notifications_unmatched ON payment_notifications (center_id, attempt_reference)
    WHERE outcome = 'unknown_attempt' AND status = 'paid';
CREATE INDEX payment_notifications_attempt ON payment_notifications (center_id, attempt_id) WHERE attempt_id IS NOT NULL;

-- Notifications stay as received (append-only): what a person did about an unmatched one is kept here.
CREATE TABLE unmatched_payment_resolutions (
    center_id         bigint NOT NULL REFERENCES centers (id),
    attempt_reference text NOT NULL,
    resolved_at       timestamptz NOT NULL DEFAULT now(),
    resolution        text NOT NULL,
    actor             text NOT NULL,
    PRIMARY KEY (center_id, attempt_reference)
);
ALTER TABLE unmatched_payment_resolutions ENABLE ROW LEVEL SECURITY;
ALTER TABLE unmatched_payment_resolutions FORCE ROW LEVEL SECURITY;
CREATE POLICY unmatched_payment_resolutions_tenant ON unmatched_payment_resolutions TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY unmatched_payment_resolutions_owner ON unmatched_payment_resolutions TO %I '
        'USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;
GRANT SELECT, INSERT ON unmatched_payment_resolutions TO portail_app;
