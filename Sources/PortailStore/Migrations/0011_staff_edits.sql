-- Staff edit periods and tariffs through the admin API; the center files stay their declaration.
-- A file is imported again at start only when its text changed since it was last imported, so that a
-- restart does not undo what staff changed since (export the center to bring the file up to date).
ALTER TABLE centers ADD COLUMN file_hash text;
ALTER TABLE centers ADD COLUMN edited_at timestamptz;

-- Staff may force the places of a day below what is already taken (a smaller team that day): the
-- reservations keep their places, nobody can take more, and the force is in the audit log.
ALTER TABLE day_capacities ADD COLUMN forced boolean NOT NULL DEFAULT false;
ALTER TABLE day_capacities DROP CONSTRAINT day_capacities_not_overbooked;
ALTER TABLE day_capacities ADD CONSTRAINT day_capacities_not_overbooked CHECK (taken <= places OR forced);
