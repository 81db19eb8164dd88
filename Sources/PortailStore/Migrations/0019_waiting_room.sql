-- The waiting room's lines: one place per family and opening, given in order of arrival. A family
-- keeps its place whatever it reloads or opens: the key is the family, not the browser.
CREATE TABLE waiting_room_places (
    center_id   bigint NOT NULL REFERENCES centers (id),
    opening     timestamptz NOT NULL,
    family_id   bigint NOT NULL,
    position    integer NOT NULL CHECK (position > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, opening, family_id),
    UNIQUE (center_id, opening, position),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);

ALTER TABLE waiting_room_places ENABLE ROW LEVEL SECURITY;
ALTER TABLE waiting_room_places FORCE ROW LEVEL SECURITY;
CREATE POLICY waiting_room_places_tenant ON waiting_room_places TO portail_app
    USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id());
DO $$
BEGIN
    EXECUTE format(
        'CREATE POLICY waiting_room_places_owner ON waiting_room_places TO %I USING (current_center_id() IS NULL OR center_id = current_center_id()) '
        'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', current_user);
END
$$;
-- A place is given once and never changed; the maintenance job forgets lines a day old.
GRANT SELECT, INSERT, DELETE ON waiting_room_places TO portail_app;

-- The center file's `waiting_room` (null: no room) and `waiting_list.offer_hours`.
ALTER TABLE centers ADD COLUMN waiting_room jsonb;
ALTER TABLE centers ADD COLUMN waiting_list_offer_hours integer NOT NULL DEFAULT 24
    CHECK (waiting_list_offer_hours BETWEEN 1 AND 168);
