-- The back office of a center of 100,000 families (issue 12, measured by scripts/bench-pages --large):
-- the day's children (dashboard, register, attendance) by day rather than every line of the center; the
-- week's figures and the monthly export by date; the payments to check; the families' list by name.
CREATE INDEX reservation_lines_day ON reservation_lines (center_id, day);
CREATE INDEX reservations_created ON reservations (center_id, created_at);
CREATE INDEX payments_received ON payments (center_id, received_at);
CREATE INDEX invoices_issued ON invoices (center_id, issued_at);
CREATE INDEX payment_attempts_flagged ON payment_attempts (center_id) WHERE flag IS NOT NULL AND resolved_at IS NULL;
CREATE INDEX families_name ON families (center_id, name, id);
