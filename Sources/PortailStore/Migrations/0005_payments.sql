-- Online payment: attempts keep the form they sent (to resume it) and what needs a person's attention.
ALTER TABLE payment_attempts
    ADD COLUMN form jsonb,
    ADD COLUMN action text,
    ADD COLUMN flag text,                -- amount_mismatch, refund_due, double_payment, review
    ADD COLUMN paid_at timestamptz;
ALTER TABLE payment_attempts DROP CONSTRAINT payment_attempts_state_check;
ALTER TABLE payment_attempts ADD CONSTRAINT payment_attempts_state_check
    CHECK (state IN ('created', 'pending', 'paid', 'refused', 'cancelled', 'expired', 'review'));
CREATE INDEX payment_attempts_cart ON payment_attempts (center_id, cart_id, created_at DESC);

-- A notification is applied once: its key is unique among applied ones (duplicates are kept, marked).
DROP INDEX payment_notifications_once;
CREATE UNIQUE INDEX payment_notifications_once ON payment_notifications (center_id, idempotency_key) WHERE outcome = 'applied';

-- Payments: the label shown to families ("Paiement n° … (par SYSTEMPAY)").
ALTER TABLE payments ADD COLUMN label text NOT NULL DEFAULT '';
-- Invoices: due date for office payment, and which reservations they bill.
ALTER TABLE reservations ADD COLUMN invoice_id bigint;
ALTER TABLE reservations ADD CONSTRAINT reservations_invoice_fk FOREIGN KEY (center_id, invoice_id) REFERENCES invoices (center_id, id);
