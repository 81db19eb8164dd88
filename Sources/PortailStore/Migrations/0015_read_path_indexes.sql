-- The indexes the parent pages and the expiry job read by: a family's documents and children, what
-- settles a document, a payment's allocations, the carts due to expire and the payment attempts still
-- waiting for the bank. Without them each page scanned the whole center (issue 12).
CREATE INDEX invoices_family ON invoices (center_id, family_id);
CREATE INDEX invoices_credit_of ON invoices (center_id, credit_of) WHERE credit_of IS NOT NULL;
CREATE INDEX payments_family ON payments (center_id, family_id);
CREATE INDEX allocations_invoice ON allocations (center_id, invoice_id);
CREATE INDEX allocations_payment ON allocations (center_id, payment_id);
CREATE INDEX children_family ON children (center_id, family_id);
CREATE INDEX carts_due ON carts (center_id, expires_at) WHERE state = 'open';
CREATE INDEX payment_attempts_waiting ON payment_attempts (center_id, created_at) WHERE state IN ('created', 'pending');
