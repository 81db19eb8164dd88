-- A refund gives a family back money it has with the center (a payment not allocated, or what a
-- credit note freed). It is a ledger document of its own (OPI-R00001) settled by allocating that money
-- to it: the family's available credit falls by construction and the ledger stays append-only.
ALTER TABLE invoices DROP CONSTRAINT invoices_kind_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_kind_check CHECK (kind IN ('invoice', 'credit_note', 'refund'));

-- Payment attempts flagged for the staff (amount_mismatch, refund_due, double_payment, review) are
-- resolved once looked at, with a word on what was done.
ALTER TABLE payment_attempts ADD COLUMN resolved_at timestamptz;
ALTER TABLE payment_attempts ADD COLUMN resolution text;
