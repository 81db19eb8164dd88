-- A family's totals (Mon compte, Mes factures, the balances export) read from the indexes alone: each
-- index by family or by document carries the amounts the sums need, so that the balances export, which
-- adds up each family as its row goes out, does not visit the tables (120,000 families: 7.7 s instead of
-- 10.5 s, the first row at once; docs/benchmarks.md). Same keys as the indexes they replace.
DROP INDEX invoices_family;
CREATE INDEX invoices_family ON invoices (center_id, family_id) INCLUDE (kind, total_cents, id);
DROP INDEX payments_family;
CREATE INDEX payments_family ON payments (center_id, family_id) INCLUDE (amount_cents, id);
DROP INDEX allocations_invoice;
CREATE INDEX allocations_invoice ON allocations (center_id, invoice_id) INCLUDE (amount_cents);
DROP INDEX allocations_payment;
CREATE INDEX allocations_payment ON allocations (center_id, payment_id) INCLUDE (amount_cents);
