-- A payment attempt pays either what a cart holds (its reservations, frozen when it starts) or an invoice
-- left unpaid (booked at the office, or paid in part): parents pay what is due online from "Mes factures".
ALTER TABLE payment_attempts ALTER COLUMN cart_id DROP NOT NULL;
ALTER TABLE payment_attempts ADD COLUMN invoice_id bigint;
ALTER TABLE payment_attempts ADD CONSTRAINT payment_attempts_invoice
    FOREIGN KEY (center_id, invoice_id) REFERENCES invoices (center_id, id);
ALTER TABLE payment_attempts ADD CONSTRAINT payment_attempts_pays_one_thing
    CHECK ((cart_id IS NULL) <> (invoice_id IS NULL));
CREATE INDEX payment_attempts_invoice ON payment_attempts (center_id, invoice_id) WHERE invoice_id IS NOT NULL;
