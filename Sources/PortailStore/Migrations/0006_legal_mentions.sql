-- Legal mentions printed on invoices and receipts (legal name, SIRET, registered office, free text).
ALTER TABLE centers ADD COLUMN legal jsonb;
