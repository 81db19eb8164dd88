-- What a payment attempt priced when it started: the reservations it pays for and the amount of each.
-- A paid notification confirms these and nothing else, whatever the cart holds when the bank answers
-- (a cart reopens when an attempt dies, and the bank may still be paid on the old form later).
CREATE TABLE payment_attempt_reservations (
    center_id       bigint NOT NULL,
    attempt_id      bigint NOT NULL,
    reservation_id  bigint NOT NULL,
    amount_cents    bigint NOT NULL CHECK (amount_cents >= 0),
    PRIMARY KEY (center_id, attempt_id, reservation_id),
    FOREIGN KEY (center_id, attempt_id) REFERENCES payment_attempts (center_id, id),
    FOREIGN KEY (center_id, reservation_id) REFERENCES reservations (center_id, id)
);
CREATE INDEX payment_attempt_reservations_reservation ON payment_attempt_reservations (center_id, reservation_id);

ALTER TABLE payment_attempt_reservations ENABLE ROW LEVEL SECURITY;
CREATE POLICY payment_attempt_reservations_tenant ON payment_attempt_reservations TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
-- Written once, when the attempt starts: what was priced is never rewritten.
GRANT SELECT, INSERT ON payment_attempt_reservations TO portail_app;

-- Attempts that started before this table and are not paid yet: the reservations of their cart booked
-- before the attempt and not removed, but only when these add up to what the attempt asked (with the
-- credit it counted). Otherwise the cart changed after the attempt died, nothing is recorded, and a late
-- payment of such an attempt becomes the family's credit, flagged for the staff: never a confirmation
-- of days it did not pay for.
INSERT INTO payment_attempt_reservations (center_id, attempt_id, reservation_id, amount_cents)
SELECT a.center_id, a.id, r.id, r.total_cents
FROM payment_attempts a
JOIN reservations r ON r.center_id = a.center_id AND r.cart_id = a.cart_id
                   AND r.created_at <= a.created_at AND r.state <> 'cancelled'
WHERE a.state <> 'paid'
  AND a.amount_cents + a.credit_cents = (
      SELECT sum(b.total_cents) FROM reservations b
      WHERE b.center_id = a.center_id AND b.cart_id = a.cart_id
        AND b.created_at <= a.created_at AND b.state <> 'cancelled'
  );
