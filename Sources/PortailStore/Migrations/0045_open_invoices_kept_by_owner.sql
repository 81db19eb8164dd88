-- What a family still owes (Mon compte, Mes factures, the balances export) is read from open_invoices since
-- 0044, no longer added up from the ledger at each page: the application role, which cannot rewrite the
-- ledger (0003), must not be able to write what it owes either. The functions that keep open_invoices (0029)
-- now run as their owner, like family_totals' (0044), and the application role keeps only the right to read it.
ALTER FUNCTION portail_track_open_invoice(bigint, bigint) SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION portail_invoice_written() SECURITY DEFINER SET search_path = public, pg_temp;
ALTER FUNCTION portail_allocation_written() SECURITY DEFINER SET search_path = public, pg_temp;
REVOKE ALL ON FUNCTION portail_track_open_invoice(bigint, bigint), portail_invoice_written(), portail_allocation_written() FROM PUBLIC;
REVOKE INSERT, UPDATE, DELETE ON open_invoices FROM portail_app;
