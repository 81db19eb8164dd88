-- The family file (dossier famille) parents keep themselves: the other guardians and the people allowed
-- to pick the children up (guardians.kind), each child's health form and authorisations (child_files),
-- documents (family_documents, stored here, 5 MB at most each), when the family last confirmed its file,
-- and the changes the center's staff validate (family_file_changes).
ALTER TABLE guardians ADD COLUMN kind text NOT NULL DEFAULT 'guardian' CHECK (kind IN ('guardian', 'pickup'));
ALTER TABLE families ADD COLUMN file_confirmed_at timestamptz;
-- A family that created its account itself (the center's family_file.self_sign_up), and when the staff
-- approved it (family_file.approve_sign_ups).
ALTER TABLE families ADD COLUMN signed_up_at timestamptz, ADD COLUMN approved_at timestamptz;
-- The center file's family_file: block.
ALTER TABLE centers ADD COLUMN family_file jsonb;
GRANT SELECT (file_confirmed_at, signed_up_at, approved_at) ON families TO portail_app;

CREATE TABLE child_files (
    center_id         bigint NOT NULL,
    child_id          bigint NOT NULL,
    doctor            text NOT NULL DEFAULT '',
    doctor_phone      text NOT NULL DEFAULT '',
    allergies         text NOT NULL DEFAULT '',
    pai               boolean NOT NULL DEFAULT false,
    pai_details       text NOT NULL DEFAULT '',
    diet              text NOT NULL DEFAULT '',
    vaccinations_ok   boolean NOT NULL DEFAULT false,
    notes             text NOT NULL DEFAULT '',
    health_saved_at   timestamptz,
    image_rights      boolean,
    outings           boolean,
    goes_home_alone   boolean,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, child_id),
    FOREIGN KEY (center_id, child_id) REFERENCES children (center_id, id)
);

CREATE TABLE family_documents (
    center_id     bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    family_id     bigint NOT NULL,
    child_id      bigint,
    kind          text NOT NULL CHECK (kind IN ('vaccinations', 'insurance', 'caf')),
    filename      text NOT NULL CHECK (length(filename) <= 120),
    content_type  text NOT NULL CHECK (content_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size          integer NOT NULL CHECK (size > 0 AND size <= 5242880),
    content       bytea NOT NULL,
    state         text NOT NULL DEFAULT 'received' CHECK (state IN ('received', 'pending', 'accepted', 'refused', 'removed')),
    uploaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, id),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id),
    FOREIGN KEY (center_id, child_id) REFERENCES children (center_id, id)
);
CREATE INDEX family_documents_family ON family_documents (center_id, family_id) WHERE state <> 'removed';

-- A change by parents to an item the center validates: the staff's queue.
CREATE TABLE family_file_changes (
    center_id     bigint NOT NULL,
    id            bigint GENERATED ALWAYS AS IDENTITY,
    family_id     bigint NOT NULL,
    child_id      bigint,
    document_id   bigint,
    item          text NOT NULL CHECK (item IN ('contacts', 'guardians', 'pickup', 'health', 'authorisations', 'documents', 'sign_up')),
    summary       text NOT NULL,
    changed_at    timestamptz NOT NULL DEFAULT now(),
    decision      text CHECK (decision IN ('accepted', 'refused')),
    decided_at    timestamptz,
    decided_by    text,
    note          text NOT NULL DEFAULT '',
    PRIMARY KEY (center_id, id),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id),
    FOREIGN KEY (center_id, document_id) REFERENCES family_documents (center_id, id)
);
CREATE INDEX family_file_changes_pending ON family_file_changes (center_id, changed_at) WHERE decision IS NULL;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['child_files', 'family_documents', 'family_file_changes']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON %I TO portail_app USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id())',
                       t || '_tenant', t);
        EXECUTE format('CREATE POLICY %I ON %I TO %I USING (current_center_id() IS NULL OR center_id = current_center_id()) '
                       'WITH CHECK (current_center_id() IS NULL OR center_id = current_center_id())', t || '_owner', t, current_user);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE ON %I TO portail_app', t);
    END LOOP;
END
$$;
