-- The whole domain as far as the foundation sees it. Every tenant-owned table starts its keys with
-- center_id and references its parents through (center_id, id), so a row can never point into another
-- center. Money is integer cents; calendar days are date; instants are timestamptz (UTC).

-- Federation directory: readable by the application to resolve a request's center, written by imports.
CREATE TABLE centers (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
    name            text NOT NULL,
    organisation    text NOT NULL DEFAULT '',
    time_zone       text NOT NULL DEFAULT 'Europe/Paris',
    invoice_prefix  text NOT NULL UNIQUE,
    cart_hold_minutes integer NOT NULL DEFAULT 30 CHECK (cart_hold_minutes BETWEEN 5 AND 1440),
    coordinates     jsonb NOT NULL,
    payment         jsonb,
    state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'suspended')),
    source_file     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE center_hosts (
    center_id   bigint NOT NULL REFERENCES centers (id) ON DELETE CASCADE,
    host        text NOT NULL UNIQUE,
    PRIMARY KEY (center_id, host)
);

-- Booking units (journée, matin, repas ...) and the capacity units whose places they take.
CREATE TABLE units (
    center_id   bigint NOT NULL REFERENCES centers (id),
    code        text NOT NULL,
    label       text NOT NULL,
    consumes    text[] NOT NULL DEFAULT '{}',
    position    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (center_id, code)
);

CREATE TABLE age_groups (
    center_id   bigint NOT NULL REFERENCES centers (id),
    code        text NOT NULL,
    label       text NOT NULL,
    min_age     integer NOT NULL,
    max_age     integer NOT NULL CHECK (min_age <= max_age),
    PRIMARY KEY (center_id, code)
);

-- Tariffs are versioned: a new version applies to bookings made after it, old bookings keep their price.
CREATE TABLE tariffs (
    center_id   bigint NOT NULL REFERENCES centers (id),
    code        text NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    label       text NOT NULL,
    model       text NOT NULL CHECK (model IN ('flat', 'qf', 'siblings')),
    valid_from  date,
    valid_to    date,
    definition  jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, code, version)
);

CREATE TABLE periods (
    center_id       bigint NOT NULL REFERENCES centers (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    code            text NOT NULL,
    label           text NOT NULL,
    age_group       text NOT NULL,
    starts_on       date NOT NULL,
    ends_on         date NOT NULL CHECK (starts_on <= ends_on),
    weekdays        smallint[] NOT NULL,          -- 1 = lundi ... 7 = dimanche
    units           text[] NOT NULL,
    tariff          text NOT NULL,
    booking_opens_at  timestamp,                   -- wall-clock time in the center's time zone
    booking_closes_at timestamp,
    deadline        jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
    PRIMARY KEY (center_id, id),
    UNIQUE (center_id, code),
    FOREIGN KEY (center_id, age_group) REFERENCES age_groups (center_id, code)
);

CREATE TABLE period_closed_days (
    center_id   bigint NOT NULL,
    period_id   bigint NOT NULL,
    day         date NOT NULL,
    PRIMARY KEY (center_id, period_id, day),
    FOREIGN KEY (center_id, period_id) REFERENCES periods (center_id, id) ON DELETE CASCADE
);

-- Places per day and capacity unit of a period; `taken` counts places held by carts and confirmed
-- reservations, and can never exceed `places`.
CREATE TABLE period_capacities (
    center_id   bigint NOT NULL,
    period_id   bigint NOT NULL,
    unit        text NOT NULL,
    places      integer NOT NULL CHECK (places >= 0),
    PRIMARY KEY (center_id, period_id, unit),
    FOREIGN KEY (center_id, period_id) REFERENCES periods (center_id, id) ON DELETE CASCADE,
    FOREIGN KEY (center_id, unit) REFERENCES units (center_id, code)
);

CREATE TABLE day_capacities (
    center_id   bigint NOT NULL,
    period_id   bigint NOT NULL,
    day         date NOT NULL,
    unit        text NOT NULL,
    places      integer NOT NULL CHECK (places >= 0),
    taken       integer NOT NULL DEFAULT 0 CHECK (taken >= 0),
    PRIMARY KEY (center_id, period_id, day, unit),
    FOREIGN KEY (center_id, period_id) REFERENCES periods (center_id, id),
    FOREIGN KEY (center_id, unit) REFERENCES units (center_id, code),
    CONSTRAINT day_capacities_not_overbooked CHECK (taken <= places)
);

-- Family accounts: one per center; the same e-mail at two centers is two accounts.
CREATE TABLE families (
    center_id       bigint NOT NULL REFERENCES centers (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    email           text NOT NULL,
    password_hash   text,
    name            text NOT NULL,
    address_lines   text[] NOT NULL DEFAULT '{}',
    postcode        text NOT NULL DEFAULT '',
    city            text NOT NULL DEFAULT '',
    phone           text NOT NULL DEFAULT '',
    state           text NOT NULL DEFAULT 'invited' CHECK (state IN ('invited', 'active', 'deactivated')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, id)
);
CREATE UNIQUE INDEX families_email ON families (center_id, lower(email));

CREATE TABLE guardians (
    center_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    family_id   bigint NOT NULL,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    relation    text NOT NULL DEFAULT '',
    email       text NOT NULL DEFAULT '',
    phone       text NOT NULL DEFAULT '',
    PRIMARY KEY (center_id, id),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);

CREATE TABLE children (
    center_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    family_id   bigint NOT NULL,
    first_name  text NOT NULL,
    last_name   text NOT NULL,
    birth_date  date NOT NULL,
    PRIMARY KEY (center_id, id),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);

-- Quotient familial with its validity, as the CAF or the tax office gives it.
CREATE TABLE family_quotients (
    center_id   bigint NOT NULL,
    family_id   bigint NOT NULL,
    valid_from  date NOT NULL,
    valid_to    date,
    quotient    integer NOT NULL CHECK (quotient >= 0),
    source      text NOT NULL DEFAULT 'CAF',
    PRIMARY KEY (center_id, family_id, valid_from),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);

-- Gap-free per-center counters (reservation numbers, invoice numbers, credit notes), updated in the
-- transaction that uses the number.
CREATE TABLE center_counters (
    center_id   bigint NOT NULL REFERENCES centers (id),
    name        text NOT NULL,
    value       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (center_id, name)
);

CREATE TABLE carts (
    center_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    family_id   bigint NOT NULL,
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'paying', 'paid', 'expired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (center_id, id),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);
CREATE INDEX carts_expiry ON carts (expires_at) WHERE state IN ('open', 'paying');

CREATE TABLE reservations (
    center_id   bigint NOT NULL,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    number      integer NOT NULL,
    family_id   bigint NOT NULL,
    child_id    bigint NOT NULL,
    period_id   bigint NOT NULL,
    cart_id     bigint,
    state       text NOT NULL DEFAULT 'pending_payment'
                CHECK (state IN ('pending_payment', 'confirmed', 'expired', 'cancelled')),
    total_cents bigint NOT NULL CHECK (total_cents >= 0),
    first_day   date NOT NULL,
    last_day    date NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, id),
    UNIQUE (center_id, number),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id),
    FOREIGN KEY (center_id, child_id) REFERENCES children (center_id, id),
    FOREIGN KEY (center_id, period_id) REFERENCES periods (center_id, id),
    FOREIGN KEY (center_id, cart_id) REFERENCES carts (center_id, id)
);
CREATE INDEX reservations_family ON reservations (center_id, family_id, created_at DESC);

-- One line per booked day and unit, with the price the engine gave at booking time.
CREATE TABLE reservation_lines (
    center_id       bigint NOT NULL,
    reservation_id  bigint NOT NULL,
    day             date NOT NULL,
    unit            text NOT NULL,
    price_cents     bigint NOT NULL CHECK (price_cents >= 0),
    tariff          text NOT NULL,
    tariff_version  integer NOT NULL,
    PRIMARY KEY (center_id, reservation_id, day, unit),
    FOREIGN KEY (center_id, reservation_id) REFERENCES reservations (center_id, id),
    FOREIGN KEY (center_id, unit) REFERENCES units (center_id, code)
);

CREATE TABLE payment_attempts (
    center_id       bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    reference       text NOT NULL,
    cart_id         bigint NOT NULL,
    family_id       bigint NOT NULL,
    provider        text NOT NULL,
    amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
    currency        text NOT NULL DEFAULT 'EUR',
    state           text NOT NULL DEFAULT 'created'
                    CHECK (state IN ('created', 'pending', 'paid', 'refused', 'cancelled', 'expired')),
    provider_transaction_id text,
    provider_transaction_date text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, id),
    UNIQUE (center_id, reference),
    FOREIGN KEY (center_id, cart_id) REFERENCES carts (center_id, id),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);

-- Every server notification, verbatim, before anything is decided on it.
CREATE TABLE payment_notifications (
    center_id       bigint NOT NULL REFERENCES centers (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    attempt_id      bigint,
    idempotency_key text,
    received_at     timestamptz NOT NULL DEFAULT now(),
    raw             text NOT NULL,
    outcome         text NOT NULL,
    PRIMARY KEY (center_id, id),
    FOREIGN KEY (center_id, attempt_id) REFERENCES payment_attempts (center_id, id)
);
CREATE UNIQUE INDEX payment_notifications_once ON payment_notifications (center_id, idempotency_key)
    WHERE outcome = 'applied';

CREATE TABLE invoices (
    center_id       bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    number          text NOT NULL,
    kind            text NOT NULL DEFAULT 'invoice' CHECK (kind IN ('invoice', 'credit_note')),
    credit_of       bigint,
    family_id       bigint NOT NULL,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    total_cents     bigint NOT NULL CHECK (total_cents >= 0),
    PRIMARY KEY (center_id, id),
    UNIQUE (center_id, number),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id),
    FOREIGN KEY (center_id, credit_of) REFERENCES invoices (center_id, id)
);

CREATE TABLE invoice_lines (
    center_id           bigint NOT NULL,
    invoice_id          bigint NOT NULL,
    line_no             integer NOT NULL,
    child_id            bigint,
    reservation_id      bigint,
    designation         text NOT NULL,
    quantity            integer NOT NULL,
    unit_price_cents    bigint NOT NULL,
    amount_cents        bigint NOT NULL,
    PRIMARY KEY (center_id, invoice_id, line_no),
    FOREIGN KEY (center_id, invoice_id) REFERENCES invoices (center_id, id),
    FOREIGN KEY (center_id, child_id) REFERENCES children (center_id, id),
    FOREIGN KEY (center_id, reservation_id) REFERENCES reservations (center_id, id)
);

CREATE TABLE payments (
    center_id       bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    number          text NOT NULL,
    family_id       bigint NOT NULL,
    method          text NOT NULL CHECK (method IN ('online', 'cheque', 'especes', 'cesu', 'ancv', 'virement', 'credit')),
    provider        text,
    amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
    received_at     timestamptz NOT NULL DEFAULT now(),
    attempt_id      bigint,
    details         jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (center_id, id),
    UNIQUE (center_id, number),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id),
    FOREIGN KEY (center_id, attempt_id) REFERENCES payment_attempts (center_id, id)
);
CREATE UNIQUE INDEX payments_one_per_attempt ON payments (center_id, attempt_id) WHERE attempt_id IS NOT NULL;

CREATE TABLE allocations (
    center_id       bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    payment_id      bigint NOT NULL,
    invoice_id      bigint NOT NULL,
    amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (center_id, id),
    FOREIGN KEY (center_id, payment_id) REFERENCES payments (center_id, id),
    FOREIGN KEY (center_id, invoice_id) REFERENCES invoices (center_id, id)
);

-- Staff: federation administrators have no center; managers and staff are granted centers.
CREATE TABLE staff_users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL,
    name            text NOT NULL DEFAULT '',
    password_hash   text,
    is_federation_admin boolean NOT NULL DEFAULT false,
    state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deactivated')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX staff_users_email ON staff_users (lower(email));

CREATE TABLE staff_center_roles (
    center_id   bigint NOT NULL REFERENCES centers (id),
    staff_id    bigint NOT NULL REFERENCES staff_users (id),
    role        text NOT NULL CHECK (role IN ('manager', 'staff')),
    PRIMARY KEY (center_id, staff_id)
);

CREATE TABLE api_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    staff_id    bigint NOT NULL REFERENCES staff_users (id),
    label       text NOT NULL DEFAULT '',
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);

-- Family sessions: the cookie carries a random id, the table its hash.
CREATE TABLE sessions (
    center_id       bigint NOT NULL REFERENCES centers (id),
    id_hash         bytea NOT NULL,
    family_id       bigint,
    csrf_token      text NOT NULL,
    data            jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    PRIMARY KEY (center_id, id_hash),
    FOREIGN KEY (center_id, family_id) REFERENCES families (center_id, id)
);

CREATE TABLE audit_log (
    center_id   bigint REFERENCES centers (id),    -- null for federation-wide actions
    id          bigint GENERATED ALWAYS AS IDENTITY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    subject     text NOT NULL DEFAULT '',
    before      jsonb,
    after       jsonb,
    PRIMARY KEY (id)
);
CREATE INDEX audit_log_center ON audit_log (center_id, at DESC);

CREATE TABLE mail_outbox (
    center_id   bigint NOT NULL REFERENCES centers (id),
    id          bigint GENERATED ALWAYS AS IDENTITY,
    to_address  text NOT NULL,
    subject     text NOT NULL,
    body_text   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    PRIMARY KEY (center_id, id)
);
CREATE INDEX mail_outbox_pending ON mail_outbox (created_at) WHERE sent_at IS NULL;
