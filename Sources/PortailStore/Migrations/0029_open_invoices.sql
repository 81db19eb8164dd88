-- The invoices that still lack something, with what they lack, kept by the database itself: the office's
-- dashboard lists the oldest and counts them all without summing every allocation of the center (seconds at
-- a center of 750,000 invoices). Invoices, credit notes and allocations are append-only, and each of their
-- rows recomputes what its invoice lacks, in the same transaction (the family's row is locked by every
-- writer of its money, so two never interleave on one invoice).
CREATE TABLE open_invoices (
    center_id   bigint NOT NULL,
    invoice_id  bigint NOT NULL,
    family_id   bigint NOT NULL,
    issued_at   timestamptz NOT NULL,
    due_cents   bigint NOT NULL CHECK (due_cents > 0),
    PRIMARY KEY (center_id, invoice_id),
    FOREIGN KEY (center_id, invoice_id) REFERENCES invoices (center_id, id)
);
CREATE INDEX open_invoices_oldest ON open_invoices (center_id, issued_at, invoice_id);

ALTER TABLE open_invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE open_invoices FORCE ROW LEVEL SECURITY;
CREATE POLICY open_invoices_tenant ON open_invoices TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY open_invoices_owner ON open_invoices TO %I '
        'USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON open_invoices TO portail_app;

-- What one invoice lacks now (total, less its credit notes, less what was allocated to it), kept in
-- open_invoices while it is above zero.
CREATE FUNCTION portail_track_open_invoice(center bigint, invoice bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    lacks bigint;
    family bigint;
    issued timestamptz;
BEGIN
    SELECT i.total_cents
           - coalesce((SELECT sum(cn.total_cents) FROM invoices cn WHERE cn.center_id = i.center_id AND cn.credit_of = i.id AND cn.kind = 'credit_note'), 0)
           - coalesce((SELECT sum(a.amount_cents) FROM allocations a WHERE a.center_id = i.center_id AND a.invoice_id = i.id), 0),
           i.family_id, i.issued_at
      INTO lacks, family, issued
      FROM invoices i WHERE i.center_id = center AND i.id = invoice AND i.kind = 'invoice';
    IF lacks IS NULL THEN
        RETURN;  -- a credit note or a refund: nothing to settle
    ELSIF lacks > 0 THEN
        INSERT INTO open_invoices (center_id, invoice_id, family_id, issued_at, due_cents) VALUES (center, invoice, family, issued, lacks)
        ON CONFLICT (center_id, invoice_id) DO UPDATE SET due_cents = EXCLUDED.due_cents;
    ELSE
        DELETE FROM open_invoices WHERE center_id = center AND invoice_id = invoice;
    END IF;
END
$$;

CREATE FUNCTION portail_invoice_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM portail_track_open_invoice(NEW.center_id, CASE WHEN NEW.kind = 'credit_note' THEN NEW.credit_of ELSE NEW.id END);
    RETURN NULL;
END
$$;
CREATE TRIGGER invoices_open AFTER INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION portail_invoice_written();

CREATE FUNCTION portail_allocation_written() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM portail_track_open_invoice(NEW.center_id, NEW.invoice_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER allocations_open AFTER INSERT ON allocations FOR EACH ROW EXECUTE FUNCTION portail_allocation_written();

-- The invoices open today.
SELECT portail_track_open_invoice(center_id, id) FROM invoices WHERE kind = 'invoice';
