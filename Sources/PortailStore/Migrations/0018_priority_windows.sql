-- Issue 12: priority windows. A period can open earlier for some families (residents, families of the
-- previous period, families the staff marked) than for the rest.

-- Which families the center counts as resident: {"postcodes": [...], "communes": [...]}; null: none.
ALTER TABLE centers ADD COLUMN residents jsonb;

-- The period's earlier openings, [{"opensAt": "2027-01-08T08:00", "groups": ["residents"]}], and the
-- period whose families have the previous_period priority (null: the latest of the age group before).
ALTER TABLE periods ADD COLUMN priority jsonb NOT NULL DEFAULT '[]';
ALTER TABLE periods ADD COLUMN previous_period text;

-- Marked by the staff as a priority family (the "marked" group).
ALTER TABLE families ADD COLUMN priority_marked boolean NOT NULL DEFAULT false;

-- Since 0014 the application role reads the families table column by column: this one too. (It may
-- update the table's columns already; centers and periods are read whole.)
GRANT SELECT (priority_marked) ON families TO portail_app;
