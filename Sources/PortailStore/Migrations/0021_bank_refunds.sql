-- Refunds made through the bank (a card refunded by its provider). The refund document is recorded
-- first, with this row 'asking'; the bank is asked outside any transaction with the refund's number as
-- its idempotency key; the answer then makes the row 'done' (or 'pending' at the bank). A bank that
-- refused makes it 'refused' and the refund is reversed; a call without an answer leaves it 'asking',
-- and asking again for the same refund never refunds twice.
CREATE TABLE bank_refunds (
    center_id       bigint NOT NULL REFERENCES centers (id),
    refund_id       bigint NOT NULL,
    payment_id      bigint NOT NULL,
    amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
    state           text NOT NULL DEFAULT 'asking' CHECK (state IN ('asking', 'done', 'pending', 'refused')),
    provider_refund text,
    detail          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, refund_id),
    FOREIGN KEY (center_id, refund_id) REFERENCES invoices (center_id, id),
    FOREIGN KEY (center_id, payment_id) REFERENCES payments (center_id, id)
);
ALTER TABLE bank_refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE bank_refunds FORCE ROW LEVEL SECURITY;
CREATE POLICY bank_refunds_tenant ON bank_refunds TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY bank_refunds_owner ON bank_refunds TO %I '
        'USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;
GRANT SELECT, INSERT, UPDATE ON bank_refunds TO portail_app;

-- Credit counted by a live payment attempt is the attempt's until it ends: a refund or another cart
-- cannot spend it meanwhile (read by LedgerRepository.availableCredit).
CREATE INDEX payment_attempts_family_live ON payment_attempts (center_id, family_id) WHERE state IN ('created', 'pending') AND credit_cents > 0;
