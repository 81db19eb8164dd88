-- The back office's search of families (name, e-mail, children's names; case and accents ignored) reads
-- one folded text per family, kept by triggers, instead of folding every family's text at each search:
-- at 120,000 families the fold alone took most of a second (docs/benchmarks.md).

-- Lower case without accents: NFD, then the combining marks dropped. The search folds its words the
-- same way (Swift's diacritic- and case-insensitive folding).
CREATE FUNCTION portail_fold(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT lower(regexp_replace(normalize($1, NFD), '[\u0300-\u036f]', '', 'g')) $$;

-- A family's searchable text: its name, its e-mail and its children's names, folded.
CREATE FUNCTION portail_family_search_text(center bigint, family bigint, name text, email text) RETURNS text
    LANGUAGE sql STABLE
    AS $$
    SELECT portail_fold(name || ' ' || email || ' ' || coalesce((
        SELECT string_agg(ch.first_name || ' ' || ch.last_name, ' ' ORDER BY ch.id) FROM children ch
        WHERE ch.center_id = center AND ch.family_id = family), ''))
    $$;

ALTER TABLE families ADD COLUMN search_text text NOT NULL DEFAULT '';
-- The serving role reads it; it writes it only through the triggers (table-wide UPDATE, as for the other columns).
GRANT SELECT (search_text) ON families TO portail_app;
UPDATE families SET search_text = portail_family_search_text(center_id, id, name, email);

CREATE FUNCTION portail_families_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_text := portail_family_search_text(NEW.center_id, NEW.id, NEW.name, NEW.email);
    RETURN NEW;
END
$$;
CREATE TRIGGER families_search_text BEFORE INSERT OR UPDATE OF name, email ON families
    FOR EACH ROW EXECUTE FUNCTION portail_families_search_text();

-- Children added, renamed, moved or removed: their families' texts again, once per statement.
CREATE FUNCTION portail_children_search_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE families f SET search_text = portail_family_search_text(f.center_id, f.id, f.name, f.email)
        FROM (SELECT DISTINCT center_id, family_id FROM new_children) c WHERE f.center_id = c.center_id AND f.id = c.family_id;
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE families f SET search_text = portail_family_search_text(f.center_id, f.id, f.name, f.email)
        FROM (SELECT DISTINCT center_id, family_id FROM old_children) c WHERE f.center_id = c.center_id AND f.id = c.family_id;
    ELSE
        UPDATE families f SET search_text = portail_family_search_text(f.center_id, f.id, f.name, f.email)
        FROM (SELECT center_id, family_id FROM new_children UNION SELECT center_id, family_id FROM old_children) c
        WHERE f.center_id = c.center_id AND f.id = c.family_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER children_search_text_insert AFTER INSERT ON children
    REFERENCING NEW TABLE AS new_children FOR EACH STATEMENT EXECUTE FUNCTION portail_children_search_text();
CREATE TRIGGER children_search_text_update AFTER UPDATE ON children
    REFERENCING OLD TABLE AS old_children NEW TABLE AS new_children FOR EACH STATEMENT EXECUTE FUNCTION portail_children_search_text();
CREATE TRIGGER children_search_text_delete AFTER DELETE ON children
    REFERENCING OLD TABLE AS old_children FOR EACH STATEMENT EXECUTE FUNCTION portail_children_search_text();
