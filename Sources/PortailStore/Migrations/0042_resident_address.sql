-- The address that decides the residents' priority window is the one the staff recorded (docs/centers.md):
-- a family can write its own postcode and city in its file, and must not be able to enter an earlier
-- opening, or pass the waiting room at the general one, by typing a resident commune. The staff's saves
-- of an address (admin API, back office) write both; the family's own edits write only postcode and city.
-- Existing families keep the address they have now as their recorded one (no history tells who wrote it).
ALTER TABLE families ADD COLUMN resident_postcode text NOT NULL DEFAULT '',
                     ADD COLUMN resident_city text NOT NULL DEFAULT '';
UPDATE families SET resident_postcode = postcode, resident_city = city;
GRANT SELECT (resident_postcode, resident_city) ON families TO portail_app;
