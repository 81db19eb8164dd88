-- Issue 16, item 6: families inactive for years. A family's last login is recorded (sessions are
-- created only by a login, a switch or a handoff); the retention job finds, from that and from its
-- reservations, invoices, payments, waiting list and file, the families nobody has used for the set
-- number of years. One with no accounting record left to keep is erased; one whose invoices or
-- payments must still be kept (10 years) becomes dormant: its login, file, guardians, QF and address
-- book go, its name stays on its invoices, and it is erased once its records may go.
ALTER TABLE families ADD COLUMN last_login_at timestamptz, ADD COLUMN dormant_at timestamptz;
UPDATE families f SET last_login_at = s.seen
FROM (SELECT center_id, family_id, max(last_seen_at) AS seen FROM sessions WHERE family_id IS NOT NULL GROUP BY 1, 2) s
WHERE s.center_id = f.center_id AND s.family_id = f.id;
GRANT SELECT (last_login_at, dormant_at) ON families TO portail_app;
CREATE INDEX family_file_changes_family ON family_file_changes (center_id, family_id, changed_at);
