-- Row-level security: the application role sees and writes only the rows of the center set for the
-- current transaction (SET LOCAL portail.center_id). With no center set, it sees nothing.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'units', 'age_groups', 'tariffs', 'periods', 'period_closed_days', 'period_capacities',
        'day_capacities', 'families', 'guardians', 'children', 'family_quotients', 'center_counters',
        'carts', 'reservations', 'reservation_lines', 'payment_attempts', 'payment_notifications',
        'invoices', 'invoice_lines', 'payments', 'allocations', 'staff_center_roles', 'sessions',
        'audit_log', 'mail_outbox'
    ]
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I TO portail_app USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id())',
            t || '_tenant', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO portail_app', t);
    END LOOP;
END
$$;

-- Append-only ledger: the application can add to it, never rewrite it.
REVOKE UPDATE, DELETE ON invoices, invoice_lines, payments, allocations, payment_notifications, audit_log FROM portail_app;

-- The federation directory is read-only for the application.
GRANT SELECT ON centers, center_hosts TO portail_app;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO portail_app;
