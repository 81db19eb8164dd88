-- Sibling prices no longer depend on the order children are booked in: each line keeps the rank it was
-- priced with. A day paid or confirmed keeps its rank; the days still in the family's open cart, and the
-- child being booked, take the ranks left, oldest first, and the cart's lines are priced again.
ALTER TABLE reservation_lines ADD COLUMN sibling_rank smallint CHECK (sibling_rank >= 1);

-- Lines booked before: the rank they were priced with, as the booking computed it then: 1 + the older
-- siblings already holding that day when the reservation was made (reservations made before it).
UPDATE reservation_lines l SET sibling_rank = 1 + (
    SELECT count(DISTINCT r2.child_id)
    FROM reservation_lines l2
    JOIN reservations r2 ON r2.center_id = l2.center_id AND r2.id = l2.reservation_id
    JOIN children c2 ON c2.center_id = r2.center_id AND c2.id = r2.child_id
    WHERE l2.center_id = l.center_id AND l2.day = l.day AND r2.family_id = r.family_id AND r2.id < r.id
      AND r2.child_id <> r.child_id AND r2.state IN ('pending_payment', 'confirmed')
      AND (c2.birth_date, c2.id) < (ch.birth_date, ch.id))
FROM reservations r
JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
WHERE r.center_id = l.center_id AND r.id = l.reservation_id AND r.state IN ('pending_payment', 'confirmed');
