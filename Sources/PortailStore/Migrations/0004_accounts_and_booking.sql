-- Family accounts, login throttling, e-mailed tokens, and booking lines priced per unit combination.

ALTER TABLE families ADD COLUMN category text;              -- tariff category ("hors-commune"), null = default grid

-- Failed logins, per account (e-mail, existing or not) and per address, to slow guessing down.
CREATE TABLE login_throttle (
    center_id       bigint NOT NULL REFERENCES centers (id),
    key             text NOT NULL,                          -- "account:<e-mail>" or "address:<ip>"
    failures        integer NOT NULL DEFAULT 0,
    last_failure_at timestamptz NOT NULL DEFAULT now(),
    blocked_until   timestamptz,
    PRIMARY KEY (center_id, key)
);

-- Single-use links sent by e-mail (password reset, account activation); the link carries the token,
-- the table its SHA-256.
CREATE TABLE account_tokens (
    center_id   bigint NOT NULL,
    token_hash  bytea NOT NULL,
    family_id   bigint NOT NULL,
    purpose     text NOT NULL CHECK (purpose IN ('reset', 'activation')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    PRIMARY KEY (center_id, token_hash),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);

-- A booked day is priced by combination ("matin+repas+apres-midi" or "journee"): one line per day and
-- price key, with the units it covers. Capacity is taken per unit through day_capacities.
DROP TABLE reservation_lines;
CREATE TABLE reservation_lines (
    center_id       bigint NOT NULL,
    reservation_id  bigint NOT NULL,
    day             date NOT NULL,
    price_key       text NOT NULL,
    units           text[] NOT NULL,
    capacity_units  text[] NOT NULL,                         -- the places this line holds, as taken at booking
    price_cents     bigint NOT NULL CHECK (price_cents >= 0),
    tariff          text NOT NULL,
    tariff_version  integer NOT NULL,
    PRIMARY KEY (center_id, reservation_id, day, price_key),
    FOREIGN KEY (center_id, reservation_id) REFERENCES reservations (center_id, id)
);

-- One child cannot hold the same period twice at once in waiting or confirmed reservations per day:
-- enforced in the booking transaction, helped by this index.
CREATE INDEX reservations_child_period ON reservations (center_id, child_id, period_id) WHERE state IN ('pending_payment', 'confirmed');
CREATE INDEX reservations_cart ON reservations (center_id, cart_id);
CREATE UNIQUE INDEX carts_one_open_per_family ON carts (center_id, family_id) WHERE state = 'open';

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['login_throttle', 'account_tokens', 'reservation_lines']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON %I TO portail_app USING (center_id = current_center_id()) WITH CHECK (center_id = current_center_id())',
            t || '_tenant', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO portail_app', t);
    END LOOP;
END
$$;
