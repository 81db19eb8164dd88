-- Issue 16, item 6: families inactive for years. A family's last activity is recorded (a login, a
-- switch or a handoff; the staff's edits, reactivation, invitations and office bookings); the retention
-- job finds, from that and from its reservations, invoices, payments, waiting list and file, the
-- families nobody has used for the set number of years. The count starts at this migration (expired
-- sessions are not kept, so no earlier login is known). One with no accounting record left to keep is erased; one whose invoices or
-- payments must still be kept (10 years) becomes dormant: its login, file, guardians, QF and address
-- book go, its name stays on its invoices, and it is erased once its records may go.
ALTER TABLE families ADD COLUMN last_activity_at timestamptz NOT NULL DEFAULT now(), ADD COLUMN dormant_at timestamptz;
GRANT SELECT (last_activity_at, dormant_at) ON families TO portail_app;
CREATE INDEX family_file_changes_family ON family_file_changes (center_id, family_id, changed_at);
