-- What the kept tables should hold, added up again from the ledger's documents, and where they differ: one
-- definition for the restore drill, the fault test, the tests and `portail ledger check`, and the way back
-- after a manual fix of the ledger (`portail ledger rebuild`, portail_rebuild_ledger_totals).
--
-- open_invoices (0029) keeps what each invoice still lacks; family_totals (0044) keeps each family's sums.
-- Both are written by triggers in the transaction that writes the document, so they never differ from
-- the documents unless someone wrote around the triggers (a restore of part of the tables, a fix by hand
-- with the triggers disabled). The views read every document of the federation: for the owner's checks,
-- never for a page. The application role gets none of this.

-- What each invoice lacks: its total, less its credit notes, less what payments gave it; open while above zero.
CREATE VIEW open_invoices_from_ledger AS
SELECT center_id, invoice_id, family_id, issued_at, due_cents FROM (
    SELECT i.center_id, i.id AS invoice_id, i.family_id, i.issued_at,
           i.total_cents
           - coalesce((SELECT sum(cn.total_cents) FROM invoices cn WHERE cn.center_id = i.center_id AND cn.credit_of = i.id AND cn.kind = 'credit_note'), 0)
           - coalesce((SELECT sum(a.amount_cents) FROM allocations a WHERE a.center_id = i.center_id AND a.invoice_id = i.id), 0) AS due_cents
    FROM invoices i WHERE i.kind = 'invoice'
) lacking WHERE due_cents > 0;

-- Each family's sums as 0044's triggers add them: invoiced less credit notes (on the family of the invoice
-- credited), invoices counted, paid, payments counted, what its payments gave to documents.
CREATE VIEW family_totals_from_ledger AS
SELECT center_id, family_id, sum(invoiced)::bigint AS invoiced_cents, sum(invoices)::integer AS invoices,
       sum(paid)::bigint AS paid_cents, sum(payments)::integer AS payments, sum(allocated)::bigint AS allocated_cents
FROM (
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
) documents GROUP BY center_id, family_id;

-- Every kept row that differs from the documents, or is missing, or should not be there: which table,
-- which center and family, what is kept and what the documents give (NULL: no row).
CREATE VIEW ledger_drift AS
SELECT 'open_invoices'::text AS kept_in, coalesce(k.center_id, l.center_id) AS center_id,
       coalesce(i.family_id, l.family_id) AS family_id,  -- the invoice's own family, whatever the kept row says
       'invoice ' || coalesce(k.invoice_id, l.invoice_id) AS row_of,
       CASE WHEN k.center_id IS NOT NULL THEN k.due_cents || CASE WHEN k.family_id <> i.family_id THEN ' (kept for family ' || k.family_id || ')' ELSE '' END END AS kept,
       l.due_cents::text AS from_ledger
FROM open_invoices k
JOIN invoices i ON i.center_id = k.center_id AND i.id = k.invoice_id
FULL JOIN open_invoices_from_ledger l ON l.center_id = k.center_id AND l.invoice_id = k.invoice_id
WHERE (k.family_id, k.due_cents) IS DISTINCT FROM (l.family_id, l.due_cents)
UNION ALL
SELECT 'family_totals', coalesce(k.center_id, l.center_id), coalesce(k.family_id, l.family_id), 'family',
       CASE WHEN k.center_id IS NOT NULL THEN format('invoiced %s (%s), paid %s (%s), allocated %s', k.invoiced_cents, k.invoices, k.paid_cents, k.payments, k.allocated_cents) END,
       CASE WHEN l.center_id IS NOT NULL THEN format('invoiced %s (%s), paid %s (%s), allocated %s', l.invoiced_cents, l.invoices, l.paid_cents, l.payments, l.allocated_cents) END
FROM family_totals k FULL JOIN family_totals_from_ledger l ON l.center_id = k.center_id AND l.family_id = k.family_id
WHERE (k.invoiced_cents, k.invoices, k.paid_cents, k.payments, k.allocated_cents)
      IS DISTINCT FROM (l.invoiced_cents, l.invoices, l.paid_cents, l.payments, l.allocated_cents);

-- One family's kept rows written again from its documents (after a manual fix of the ledger). Returns how
-- many of its rows differed (0: they agreed already, and are left as they were). Every read is the
-- family's alone (the views filtered by center and family use the ledger's indexes by family).
--
-- Not every writer of the ledger locks the family's row first, and open_invoices' trigger writes an
-- absolute amount: a credit note written while the rows are being replaced could miss the new row. So
-- the function first locks both kept tables against writes (SHARE ROW EXCLUSIVE: it waits for the
-- writers in progress to commit, and the next ones wait for it). Its statements each see what committed
-- before them (READ COMMITTED), and it holds the lock for the milliseconds of one family: a rebuild of
-- many families is one call, and one transaction, a family. It takes no other lock first (not the
-- family's row), so that it never waits in a cycle with a writer.
CREATE FUNCTION portail_rebuild_ledger_totals(center bigint, family bigint) RETURNS integer LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
    differed integer;
BEGIN
    LOCK TABLE open_invoices, family_totals IN SHARE ROW EXCLUSIVE MODE;
    PERFORM 1 FROM families f WHERE f.center_id = center AND f.id = family;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no family % in center %', family, center USING ERRCODE = 'no_data_found';
    END IF;
    WITH kept_open AS (
        SELECT o.invoice_id, o.family_id, o.due_cents FROM open_invoices o
        WHERE o.center_id = center AND o.invoice_id IN (SELECT i.id FROM invoices i WHERE i.center_id = center AND i.family_id = family)
    ), ledger_open AS (
        SELECT l.invoice_id, l.family_id, l.due_cents FROM open_invoices_from_ledger l WHERE l.center_id = center AND l.family_id = family
    ), kept_totals AS (
        SELECT t.invoiced_cents, t.invoices, t.paid_cents, t.payments, t.allocated_cents FROM family_totals t
        WHERE t.center_id = center AND t.family_id = family
    ), ledger_totals AS (
        SELECT l.invoiced_cents, l.invoices, l.paid_cents, l.payments, l.allocated_cents FROM family_totals_from_ledger l
        WHERE l.center_id = center AND l.family_id = family
    )
    SELECT (SELECT count(DISTINCT invoice_id) FROM ((TABLE kept_open EXCEPT TABLE ledger_open) UNION ALL (TABLE ledger_open EXCEPT TABLE kept_open)) o)
         + (SELECT count(*) FROM ((TABLE kept_totals EXCEPT TABLE ledger_totals) UNION (TABLE ledger_totals EXCEPT TABLE kept_totals) LIMIT 1) t)
      INTO differed;
    IF differed = 0 THEN
        RETURN 0;
    END IF;
    DELETE FROM open_invoices o
    WHERE o.center_id = center AND o.invoice_id IN (SELECT i.id FROM invoices i WHERE i.center_id = center AND i.family_id = family);
    INSERT INTO open_invoices (center_id, invoice_id, family_id, issued_at, due_cents)
        SELECT l.center_id, l.invoice_id, l.family_id, l.issued_at, l.due_cents FROM open_invoices_from_ledger l
        WHERE l.center_id = center AND l.family_id = family;
    DELETE FROM family_totals t WHERE t.center_id = center AND t.family_id = family;
    INSERT INTO family_totals (center_id, family_id, invoiced_cents, invoices, paid_cents, payments, allocated_cents)
        SELECT l.center_id, l.family_id, l.invoiced_cents, l.invoices, l.paid_cents, l.payments, l.allocated_cents FROM family_totals_from_ledger l
        WHERE l.center_id = center AND l.family_id = family;
    RETURN differed;
END
$$;
REVOKE ALL ON FUNCTION portail_rebuild_ledger_totals(bigint, bigint) FROM PUBLIC;
