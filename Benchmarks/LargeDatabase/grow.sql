-- A federation-sized database for the benchmarks (issue 12): `SELECT pg_temp.grow('opio', 120000)` adds
-- that many families to a center, with 1.5 children each, 4 or 5 reservations of 4 days per child on a
-- past summer (a period of its own, closed), an invoice per reservation, 80 % of them paid online (an
-- attempt, a payment, an allocation) and the rest left unpaid. Run as the database owner (row-level
-- security does not apply), in one transaction per center; numbering counters are moved past what it
-- wrote, so that the portal goes on numbering without a gap or a clash. Not for production databases.
-- "00042", "123456": at least five digits, as the portal numbers its documents (%05d).
CREATE FUNCTION pg_temp.numbered(n bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT lpad(n::text, greatest(5, length(n::text)), '0')
$$;

CREATE FUNCTION pg_temp.grow(center_code text, how_many integer) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    c bigint;
    prefix text;
    period bigint;
    unit text;
    consumed text[];
    r0 bigint;
    i0 bigint;
    p0 bigint;
    reservation_count bigint;
    payment_count bigint;
BEGIN
    -- The statistics still describe the database before this transaction (a center's new rows look like
    -- none): joins by hash, not row by row.
    SET LOCAL enable_nestloop = off;
    SELECT id, invoice_prefix INTO c, prefix FROM centers WHERE code = center_code;
    IF c IS NULL THEN RAISE EXCEPTION 'no center %', center_code; END IF;

    -- A past summer of the center's first age group, with the first unit of its first period.
    INSERT INTO periods (center_id, code, label, age_group, starts_on, ends_on, weekdays, units, tariff, deadline, state)
    SELECT center_id, 'ete-banc', 'Été 2025 (banc d''essai)', age_group, date '2025-07-07', date '2025-08-29', '{1,2,3,4,5}',
           units[1:1], tariff, deadline, 'closed'
    FROM periods WHERE center_id = c ORDER BY id LIMIT 1
    RETURNING id, units[1] INTO period, unit;
    SELECT CASE WHEN cardinality(consumes) > 0 THEN consumes ELSE ARRAY[code] END INTO consumed
    FROM units WHERE center_id = c AND code = unit;

    INSERT INTO families (center_id, email, name, state, address_lines, postcode, city, phone, created_at)
    SELECT c, 'banc' || g || '@' || center_code || '.example.org',
           (ARRAY['MARTIN', 'BERNARD', 'DUBOIS', 'THOMAS', 'ROBERT', 'RICHARD', 'PETIT', 'DURAND', 'LEROY', 'MOREAU'])[1 + g % 10] || ' ' || g,
           'active', ARRAY[g || ' chemin des Oliviers'], '06650', 'OPIO', '0600000000', timestamptz '2024-09-01' + g * interval '1 minute'
    FROM generate_series(1, how_many) g;
    CREATE TEMP TABLE banc_families ON COMMIT DROP AS
        SELECT id, name FROM families WHERE center_id = c AND email LIKE 'banc%@' || center_code || '.example.org';
    -- Without statistics the planner may join temporary tables row by row (hours instead of seconds).
    ANALYZE banc_families;

    INSERT INTO children (center_id, family_id, first_name, last_name, birth_date)
    SELECT c, f.id, (ARRAY['LÉA', 'JULES', 'EMMA', 'HUGO', 'INÈS', 'NOAH'])[1 + (f.id % 6)::int + k - 1],
           split_part(f.name, ' ', 1), date '2015-01-01' + ((f.id * 7 + k * 365) % 2900)::int
    FROM banc_families f, generate_series(1, 2) k WHERE k = 1 OR f.id % 2 = 0;

    -- 4 reservations per child, a fifth for one child in six: 4 weekdays each, in distinct weeks.
    SELECT coalesce((SELECT value FROM center_counters WHERE center_id = c AND name = 'reservation'), 0) INTO r0;
    SELECT coalesce((SELECT value FROM center_counters WHERE center_id = c AND name = 'invoice'), 0) INTO i0;
    SELECT coalesce((SELECT value FROM center_counters WHERE center_id = c AND name = 'payment'), 0) INTO p0;
    CREATE TEMP TABLE banc_reservations ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY ch.id, k) AS n, ch.id AS child, ch.family_id AS family,
               date '2025-07-07' + 7 * ((ch.id + k) % 8)::int AS first_day
        FROM children ch JOIN banc_families f ON f.id = ch.family_id, generate_series(1, 5) k
        WHERE ch.center_id = c AND (k <= 4 OR ch.id % 6 = 0);
    ANALYZE banc_reservations;
    SELECT count(*) INTO reservation_count FROM banc_reservations;

    INSERT INTO invoices (center_id, number, kind, family_id, issued_at, total_cents)
    SELECT c, prefix || pg_temp.numbered(i0 + n), 'invoice', family, first_day - 20 + time '10:00', 5600
    FROM banc_reservations ORDER BY n;
    INSERT INTO reservations (center_id, number, family_id, child_id, period_id, state, total_cents, first_day, last_day, created_at, invoice_id)
    SELECT c, r0 + b.n, b.family, b.child, period, 'confirmed', 5600, b.first_day, b.first_day + 3, b.first_day - 20 + time '09:50', i.id
    FROM banc_reservations b JOIN invoices i ON i.center_id = c AND i.number = prefix || pg_temp.numbered(i0 + b.n);
    INSERT INTO reservation_lines (center_id, reservation_id, day, price_key, units, capacity_units, price_cents, tariff, tariff_version)
    SELECT c, r.id, r.first_day + d, unit, ARRAY[unit], consumed, 1400, 'banc', 1
    FROM reservations r, generate_series(0, 3) d WHERE r.center_id = c AND r.period_id = period;
    INSERT INTO invoice_lines (center_id, invoice_id, line_no, child_id, reservation_id, designation, quantity, unit_price_cents, amount_cents)
    SELECT c, r.invoice_id, 1, r.child_id, r.id, 'Réservation n° ' || pg_temp.numbered(r.number) || ' – 4 jours', 4, 1400, 5600
    FROM reservations r WHERE r.center_id = c AND r.period_id = period;

    -- Four invoices in five paid online, the day they were issued.
    INSERT INTO payment_attempts (center_id, reference, invoice_id, family_id, provider, amount_cents, state, created_at, updated_at,
                                  live_until, paid_at, action, checked_at)
    SELECT c, prefix || '-F' || i.id || '-1', i.id, i.family_id, 'Simulateur', 5600, 'paid', i.issued_at, i.issued_at,
           i.issued_at + interval '20 minutes', i.issued_at + interval '2 minutes', 'https://banque.example.org/', 'infinity'
    FROM invoices i JOIN reservations r ON r.center_id = i.center_id AND r.invoice_id = i.id
    WHERE i.center_id = c AND r.period_id = period AND i.id % 5 <> 0;
    INSERT INTO payments (center_id, number, family_id, method, provider, amount_cents, received_at, attempt_id, label, provider_transaction)
    SELECT c, prefix || '-P' || pg_temp.numbered(p0 + row_number() OVER (ORDER BY a.id)), a.family_id, 'online', 'Simulateur', 5600,
           a.paid_at, a.id, 'Paiement n° T' || a.id || ' (par Simulateur)', 'T' || a.id
    FROM payment_attempts a WHERE a.center_id = c AND a.reference LIKE prefix || '-F%' AND a.created_at < date '2026-01-01';
    GET DIAGNOSTICS payment_count = ROW_COUNT;
    INSERT INTO allocations (center_id, payment_id, invoice_id, amount_cents, created_at)
    SELECT c, p.id, a.invoice_id, 5600, p.received_at
    FROM payments p JOIN payment_attempts a ON a.center_id = p.center_id AND a.id = p.attempt_id
    WHERE p.center_id = c AND a.reference LIKE prefix || '-F%' AND a.created_at < date '2026-01-01';

    INSERT INTO center_counters AS k (center_id, name, value)
    VALUES (c, 'reservation', r0 + reservation_count), (c, 'invoice', i0 + reservation_count), (c, 'payment', p0 + payment_count)
    ON CONFLICT (center_id, name) DO UPDATE SET value = EXCLUDED.value;
    RETURN format('%s: %s families, %s reservations, %s lines, %s invoices, %s payments', center_code, how_many, reservation_count,
                  4 * reservation_count, reservation_count, payment_count);
END
$$;
