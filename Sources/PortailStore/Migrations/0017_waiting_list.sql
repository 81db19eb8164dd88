-- Waiting lists: a child waits for a full day and unit. A place that frees up (a cart expired, a
-- cancellation, staff raising the places) goes to the first entry in line that it fits, as an offer:
-- the place is taken for that child in the family's cart until a deadline, then given to the next.
--
-- States: waiting (in line), offered (a reservation holds the place; `reservation_id`), booked (the
-- offer was paid), expired (the offer's deadline passed), declined (removed from the cart), withdrawn
-- (the family left the line), closed (the day's booking deadline passed, or the child holds the day
-- another way).
CREATE TABLE waiting_list (
    center_id       bigint NOT NULL REFERENCES centers (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    family_id       bigint NOT NULL,
    child_id        bigint NOT NULL,
    period_id       bigint NOT NULL,
    day             date NOT NULL,
    -- The booking unit asked for, and the capacity units it needs (a journée needs all three).
    unit            text NOT NULL,
    capacity_units  text[] NOT NULL CHECK (cardinality(capacity_units) > 0),
    state           text NOT NULL DEFAULT 'waiting'
                    CHECK (state IN ('waiting', 'offered', 'booked', 'expired', 'declined', 'withdrawn', 'closed')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    offered_at      timestamptz,
    offer_expires_at timestamptz,
    reservation_id  bigint,
    ended_at        timestamptz,
    PRIMARY KEY (center_id, id),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id),
    FOREIGN KEY (center_id, child_id) REFERENCES children (center_id, id),
    FOREIGN KEY (center_id, period_id) REFERENCES periods (center_id, id),
    FOREIGN KEY (center_id, reservation_id) REFERENCES reservations (center_id, id),
    CHECK (state <> 'offered' OR (reservation_id IS NOT NULL AND offer_expires_at IS NOT NULL))
);
-- A child is in line once per day and unit.
CREATE UNIQUE INDEX waiting_list_once ON waiting_list (center_id, child_id, day, unit) WHERE state IN ('waiting', 'offered');
-- The line of a day: places held back for it, ranks, offers.
CREATE INDEX waiting_list_line ON waiting_list (center_id, period_id, day, id) WHERE state = 'waiting';
CREATE INDEX waiting_list_offers ON waiting_list (center_id, reservation_id) WHERE state = 'offered';
CREATE INDEX waiting_list_family ON waiting_list (center_id, family_id, day);

ALTER TABLE waiting_list ENABLE ROW LEVEL SECURITY;
ALTER TABLE waiting_list FORCE ROW LEVEL SECURITY;
CREATE POLICY waiting_list_tenant ON waiting_list TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY waiting_list_owner ON waiting_list TO %I USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;
-- Entries are never deleted: the line's history is what staff answer families with.
GRANT SELECT, INSERT, UPDATE ON waiting_list TO portail_app;
