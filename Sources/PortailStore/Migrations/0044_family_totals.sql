-- A family's totals (Mon compte, Mes factures, the office's family page, the balances export) kept by the
-- database as the ledger is written, instead of added up from every invoice, credit note, payment and
-- allocation of the family at each page: that sum was the largest part of Mon compte's statement.
--
-- family_totals holds the sums that only grow by what is written: what was invoiced (less credit notes),
-- how many invoices, what was paid, how many payments, what payments gave to documents. What the family
-- still owes and how many invoices lack something are open_invoices' (0029), summed by family.
--
-- The ledger is append-only for the application (0003: no UPDATE nor DELETE on invoices, payments or
-- allocations), so each insert adds its amounts: one statement a table and statement (transition tables),
-- whatever the number of rows it wrote. Adding is safe beside another writer of the same family: the
-- upsert waits for the other's row and adds to what it committed. The functions run as their owner, so
-- that the application role can read the totals and never write them itself.
CREATE TABLE family_totals (
    center_id        bigint NOT NULL,
    family_id        bigint NOT NULL,
    invoiced_cents   bigint NOT NULL DEFAULT 0,
    invoices         integer NOT NULL DEFAULT 0,
    paid_cents       bigint NOT NULL DEFAULT 0,
    payments         integer NOT NULL DEFAULT 0,
    allocated_cents  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (center_id, family_id),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);

ALTER TABLE family_totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE family_totals FORCE ROW LEVEL SECURITY;
CREATE POLICY family_totals_tenant ON family_totals TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY family_totals_owner ON family_totals TO %I '
        'USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;
GRANT SELECT ON family_totals TO portail_app;

-- What a family owes, by family.
CREATE INDEX open_invoices_family ON open_invoices (center_id, family_id) INCLUDE (due_cents);

-- Invoices add what they bill and count once; a credit note takes what it credits off the family of the
-- invoice it credits; a refund is settled by allocations, counted below.
CREATE FUNCTION portail_totals_invoices_written() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    WITH added AS (
        SELECT n.center_id, n.family_id, n.total_cents AS invoiced, 1 AS counted FROM new_rows n WHERE n.kind = 'invoice'
        UNION ALL
        SELECT i.center_id, i.family_id, -n.total_cents, 0
        FROM new_rows n JOIN invoices i ON i.center_id = n.center_id AND i.id = n.credit_of AND i.kind = 'invoice'
        WHERE n.kind = 'credit_note'
    )
    INSERT INTO family_totals AS t (center_id, family_id, invoiced_cents, invoices)
    SELECT center_id, family_id, sum(invoiced), sum(counted) FROM added GROUP BY center_id, family_id ORDER BY center_id, family_id
    ON CONFLICT (center_id, family_id) DO UPDATE
        SET invoiced_cents = t.invoiced_cents + EXCLUDED.invoiced_cents, invoices = t.invoices + EXCLUDED.invoices;
    RETURN NULL;
END
$$;
CREATE TRIGGER invoices_family_totals AFTER INSERT ON invoices REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION portail_totals_invoices_written();

CREATE FUNCTION portail_totals_payments_written() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO family_totals AS t (center_id, family_id, paid_cents, payments)
    SELECT n.center_id, n.family_id, sum(n.amount_cents), count(*) FROM new_rows n GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (center_id, family_id) DO UPDATE
        SET paid_cents = t.paid_cents + EXCLUDED.paid_cents, payments = t.payments + EXCLUDED.payments;
    RETURN NULL;
END
$$;
CREATE TRIGGER payments_family_totals AFTER INSERT ON payments REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION portail_totals_payments_written();

-- An allocation (or its reversal, negative) counts for the family of the payment it spends.
CREATE FUNCTION portail_totals_allocations_written() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO family_totals AS t (center_id, family_id, allocated_cents)
    SELECT p.center_id, p.family_id, sum(n.amount_cents)
    FROM new_rows n JOIN payments p ON p.center_id = n.center_id AND p.id = n.payment_id
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (center_id, family_id) DO UPDATE SET allocated_cents = t.allocated_cents + EXCLUDED.allocated_cents;
    RETURN NULL;
END
$$;
CREATE TRIGGER allocations_family_totals AFTER INSERT ON allocations REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION portail_totals_allocations_written();

REVOKE ALL ON FUNCTION portail_totals_invoices_written(), portail_totals_payments_written(), portail_totals_allocations_written() FROM PUBLIC;

-- The totals of the ledger written so far.
INSERT INTO family_totals (center_id, family_id, invoiced_cents, invoices, paid_cents, payments, allocated_cents)
SELECT center_id, family_id, sum(invoiced), sum(invoices), sum(paid), sum(payments), sum(allocated) FROM (
    SELECT center_id, family_id, total_cents AS invoiced, 1 AS invoices, 0 AS paid, 0 AS payments, 0 AS allocated
    FROM invoices WHERE kind = 'invoice'
    UNION ALL
    SELECT i.center_id, i.family_id, -cn.total_cents, 0, 0, 0, 0
    FROM invoices cn JOIN invoices i ON i.center_id = cn.center_id AND i.id = cn.credit_of AND i.kind = 'invoice'
    WHERE cn.kind = 'credit_note'
    UNION ALL
    SELECT center_id, family_id, 0, 0, amount_cents, 1, 0 FROM payments
    UNION ALL
    SELECT p.center_id, p.family_id, 0, 0, 0, 0, a.amount_cents
    FROM allocations a JOIN payments p ON p.center_id = a.center_id AND p.id = a.payment_id
) ledger GROUP BY center_id, family_id;
