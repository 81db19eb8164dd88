-- Days taken out of a confirmed reservation (by the office, later by a parent within the cancellation
-- deadline): their lines leave reservation_lines, so that every count of places, list, register and
-- invoice sees the reservation as it now is, and are kept here with the credit note that refunded them
-- and who cancelled them. Nothing of the ledger is edited: the credit note offsets the invoice.
CREATE TABLE cancelled_reservation_lines (
    center_id       bigint NOT NULL,
    reservation_id  bigint NOT NULL,
    day             date NOT NULL,
    price_key       text NOT NULL,
    units           text[] NOT NULL,
    capacity_units  text[] NOT NULL,
    price_cents     bigint NOT NULL CHECK (price_cents >= 0),
    tariff          text NOT NULL,
    tariff_version  integer NOT NULL,
    credit_note_id  bigint,
    cancelled_at    timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    PRIMARY KEY (center_id, reservation_id, day, price_key),
    FOREIGN KEY (center_id, reservation_id) REFERENCES reservations (center_id, id),
    FOREIGN KEY (center_id, credit_note_id) REFERENCES invoices (center_id, id)
);
ALTER TABLE cancelled_reservation_lines ENABLE ROW LEVEL SECURITY;
ALTER TABLE cancelled_reservation_lines FORCE ROW LEVEL SECURITY;
CREATE POLICY cancelled_reservation_lines_tenant ON cancelled_reservation_lines TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY cancelled_reservation_lines_owner ON cancelled_reservation_lines TO %I '
        'USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;
GRANT SELECT, INSERT ON cancelled_reservation_lines TO portail_app;
