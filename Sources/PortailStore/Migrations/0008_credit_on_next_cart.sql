-- The part of a cart paid with the family's credit (money not allocated yet), used before the bank.
ALTER TABLE payment_attempts ADD COLUMN credit_cents bigint NOT NULL DEFAULT 0 CHECK (credit_cents >= 0);
