-- AIFF hub schema, PostgreSQL. Times are timestamptz (microseconds); ids are ULID text.
-- JSON arrays (skills, boundary) are jsonb so both dialects share one encoding.

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('change_seq', 0), ('ticket_number', 0);

CREATE TABLE zones (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    region     TEXT NOT NULL DEFAULT '',
    boundary   JSONB NOT NULL DEFAULT '[]',
    center_lat DOUBLE PRECISION NOT NULL DEFAULT 0,
    center_lng DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE teams (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    zone              TEXT NOT NULL REFERENCES zones (name) ON UPDATE CASCADE,
    description       TEXT NOT NULL DEFAULT '',
    skills            JSONB NOT NULL DEFAULT '[]',
    capacity          INTEGER NOT NULL DEFAULT 5,
    shift_start       TEXT NOT NULL DEFAULT '08:00',
    shift_end         TEXT NOT NULL DEFAULT '17:00',
    home_lat          DOUBLE PRECISION,
    home_lng          DOUBLE PRECISION,
    status            TEXT NOT NULL DEFAULT 'available',
    is_active         BOOLEAN NOT NULL DEFAULT TRUE,
    tickets_completed INTEGER NOT NULL DEFAULT 0,
    customer_rating   DOUBLE PRECISION NOT NULL DEFAULT 0,
    response_time     INTEGER NOT NULL DEFAULT 0,
    completion_rate   DOUBLE PRECISION NOT NULL DEFAULT 0,
    efficiency        DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    deleted_at        TIMESTAMPTZ
);
CREATE INDEX idx_teams_zone ON teams (zone);
CREATE INDEX idx_teams_status ON teams (status);
CREATE INDEX idx_teams_zone_status ON teams (zone, status);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    email         TEXT,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    team_id       TEXT REFERENCES teams (id),
    is_active     BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX idx_users_email ON users (lower(email)) WHERE email IS NOT NULL AND email <> '';
CREATE INDEX idx_users_team ON users (team_id);

CREATE TABLE refresh_tokens (
    hash       TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX idx_refresh_tokens_user ON refresh_tokens (user_id);

-- number is the sequence behind ticket_number (TKT-000123); it is stored as a number so that
-- sorting by ticket number stays right past TKT-999999.
CREATE TABLE tickets (
    id              TEXT PRIMARY KEY,
    number          BIGINT NOT NULL UNIQUE,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    category        TEXT NOT NULL,
    priority        TEXT NOT NULL,
    priority_rank   SMALLINT NOT NULL,
    status          TEXT NOT NULL,
    zone            TEXT NOT NULL REFERENCES zones (name) ON UPDATE CASCADE,
    location        TEXT NOT NULL DEFAULT '',
    lat             DOUBLE PRECISION,
    lng             DOUBLE PRECISION,
    skills          JSONB NOT NULL DEFAULT '[]',
    assigned_team   TEXT REFERENCES teams (id),
    assigned_to     TEXT,
    due_date        TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    assigned_at     TIMESTAMPTZ,
    started_at      TIMESTAMPTZ,
    resolved_at     TIMESTAMPTZ,
    closed_at       TIMESTAMPTZ,
    customer_rating SMALLINT,
    deleted_at      TIMESTAMPTZ
);
CREATE INDEX idx_tickets_status ON tickets (status);
CREATE INDEX idx_tickets_zone ON tickets (zone);
CREATE INDEX idx_tickets_assigned_team ON tickets (assigned_team, status);
CREATE INDEX idx_tickets_zone_status ON tickets (zone, status);
CREATE INDEX idx_tickets_created ON tickets (created_at, id);
CREATE INDEX idx_tickets_updated ON tickets (updated_at, id);
CREATE INDEX idx_tickets_due ON tickets (due_date, id);
CREATE INDEX idx_tickets_priority ON tickets (priority_rank, id);

CREATE TABLE assignments (
    id          TEXT PRIMARY KEY,
    ticket_id   TEXT NOT NULL REFERENCES tickets (id),
    team_id     TEXT NOT NULL REFERENCES teams (id),
    assigned_at TIMESTAMPTZ NOT NULL,
    assigned_by TEXT NOT NULL DEFAULT '',
    method      TEXT NOT NULL DEFAULT 'manual',
    status      TEXT NOT NULL DEFAULT 'assigned',
    notes       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_assignments_ticket ON assignments (ticket_id);
CREATE INDEX idx_assignments_team ON assignments (team_id, assigned_at);

-- Metric snapshots written by POST /api/analytics/calculate (the seed's analytics table).
CREATE TABLE analytics (
    id            TEXT PRIMARY KEY,
    metric_name   TEXT NOT NULL,
    metric_value  DOUBLE PRECISION NOT NULL,
    team_id       TEXT REFERENCES teams (id),
    zone          TEXT,
    date_recorded TIMESTAMPTZ NOT NULL,
    metadata      JSONB NOT NULL DEFAULT '{}'
);
CREATE INDEX idx_analytics_metric ON analytics (metric_name);
CREATE INDEX idx_analytics_date ON analytics (date_recorded);
CREATE INDEX idx_analytics_team_date ON analytics (team_id, date_recorded);

-- The change log. seq is the hub's gap-free total order (from counters.change_seq, taken under
-- the row lock in the writing transaction); id is the ULID made at the change's origin.
CREATE TABLE changes (
    seq         BIGINT PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    origin      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    op          TEXT NOT NULL,
    zone        TEXT NOT NULL DEFAULT '',
    patch       JSONB NOT NULL DEFAULT '{}',
    hlc         TEXT NOT NULL DEFAULT '',
    at          TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX idx_changes_zone_seq ON changes (zone, seq);
CREATE INDEX idx_changes_entity ON changes (entity, entity_id, seq);

-- Edge node credentials (aiff edge-token). Only the token's hash is stored.
CREATE TABLE edge_credentials (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    zones      JSONB NOT NULL DEFAULT '[]',
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
