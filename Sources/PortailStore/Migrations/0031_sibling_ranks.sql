-- Sibling prices no longer depend on the order children are booked in: each line keeps the rank it was
-- priced with. A day paid or confirmed keeps its rank; the days still in the family's open cart, and the
-- child being booked, take the ranks left, oldest first, and the cart's lines are priced again.
ALTER TABLE reservation_lines ADD COLUMN sibling_rank smallint CHECK (sibling_rank >= 1);

-- Lines booked before: the rank among the family's children holding that day, oldest first.
UPDATE reservation_lines l SET sibling_rank = ranked.rank
FROM (
    SELECT l2.center_id, l2.reservation_id, l2.day, l2.price_key,
           dense_rank() OVER (PARTITION BY r.center_id, r.family_id, l2.day ORDER BY ch.birth_date, ch.id) AS rank
    FROM reservation_lines l2
    JOIN reservations r ON r.center_id = l2.center_id AND r.id = l2.reservation_id
    JOIN children ch ON ch.center_id = r.center_id AND ch.id = r.child_id
    WHERE r.state IN ('pending_payment', 'confirmed')
) ranked
WHERE l.center_id = ranked.center_id AND l.reservation_id = ranked.reservation_id AND l.day = ranked.day
  AND l.price_key = ranked.price_key;
