-- Credit notes can free money allocated to the invoice they cancel: a reversal allocation (negative,
-- pointing at the allocation it reverses) keeps the ledger append-only.
ALTER TABLE allocations DROP CONSTRAINT allocations_amount_cents_check;
ALTER TABLE allocations ADD CONSTRAINT allocations_amount_not_zero CHECK (amount_cents <> 0);
ALTER TABLE allocations ADD COLUMN reverses bigint;

-- Until when parents may cancel a confirmed reservation themselves (null: only staff).
ALTER TABLE periods ADD COLUMN cancellation jsonb;
