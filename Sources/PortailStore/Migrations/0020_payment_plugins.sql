-- Payment providers as plugins (PaymentKit v2).
--
-- Each provider keeps its own references per center (its session id for an attempt, a transaction
-- counter, an OAuth token) in a small key-value table the core gives it.
CREATE TABLE payment_provider_references (
    center_id   bigint NOT NULL REFERENCES centers (id),
    provider    text NOT NULL,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    value       text NOT NULL CHECK (length(value) <= 20000),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, provider, key)
);
ALTER TABLE payment_provider_references ENABLE ROW LEVEL SECURITY;
ALTER TABLE payment_provider_references FORCE ROW LEVEL SECURITY;
CREATE POLICY payment_provider_references_tenant ON payment_provider_references TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY payment_provider_references_owner ON payment_provider_references TO %I '
        'USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;
GRANT SELECT, INSERT, UPDATE ON payment_provider_references TO portail_app;

-- An attempt is live until the bank's own session limit has passed (SystemPay: 10 minutes), not a
-- fixed 20 minutes: no started payment holds its cart's places longer than that past the hold time.
ALTER TABLE payment_attempts ADD COLUMN live_until timestamptz;
UPDATE payment_attempts SET live_until = created_at + interval '20 minutes';
ALTER TABLE payment_attempts ALTER COLUMN live_until SET NOT NULL;
DROP INDEX payment_attempts_waiting;
CREATE INDEX payment_attempts_live ON payment_attempts (center_id, live_until) WHERE state IN ('created', 'pending');
-- Money the bank took is always a payment, one per bank transaction: a later status of the same
-- transaction (AUTHORISED then CAPTURED) is the same payment; another transaction paying the same
-- attempt again, or a wrong amount, is money received too, recorded and kept as the family's credit.
ALTER TABLE payments ADD COLUMN provider_transaction text;
UPDATE payments SET provider_transaction = substring(label FROM '^Paiement n° (\S+) \(par ') WHERE attempt_id IS NOT NULL;
UPDATE payments SET provider_transaction = 'unknown' WHERE attempt_id IS NOT NULL AND provider_transaction IS NULL;
DROP INDEX payments_one_per_attempt;
CREATE UNIQUE INDEX payments_one_per_transaction ON payments (center_id, attempt_id, provider_transaction) WHERE attempt_id IS NOT NULL;
ALTER TABLE payments ADD CONSTRAINT payments_online_transaction CHECK (attempt_id IS NULL OR provider_transaction IS NOT NULL);
-- The provider's own reference for the payment (a session id, an idOp), for support and status queries.
ALTER TABLE payment_attempts ADD COLUMN provider_reference text;
-- When the reconciliation job last asked the bank about the attempt.
ALTER TABLE payment_attempts ADD COLUMN checked_at timestamptz;

-- Notifications keep their headers too (a Stripe-Signature, a HelloAsso signature): what came, verbatim.
ALTER TABLE payment_notifications ADD COLUMN headers jsonb;
-- Where a notification came from: the bank's call, or the reconciliation job asking the bank.
ALTER TABLE payment_notifications ADD COLUMN source text NOT NULL DEFAULT 'notification'
    CHECK (source IN ('notification', 'reconciliation'));
