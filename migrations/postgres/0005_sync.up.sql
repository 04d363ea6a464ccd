-- Sync on the hub (issue 3). sync_conflicts keeps the writes merge did not let stand
-- (sync/merge.Conflict) for dispatchers to review and resolve; its identity is the merge
-- conflict's (entity, entity_id, field, change, kind), so recording one twice is a no-op.
-- seq is the log position of the change whose arrival produced the record.
CREATE TABLE sync_conflicts (
    id          TEXT PRIMARY KEY,
    seq         BIGINT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    field       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    change_id   TEXT NOT NULL,
    origin      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    hlc         TEXT NOT NULL,
    value       JSON,
    zone        TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    resolved_by TEXT NOT NULL DEFAULT '',
    resolution  TEXT NOT NULL DEFAULT '',
    UNIQUE (entity, entity_id, field, change_id, kind)
);
CREATE INDEX idx_sync_conflicts_open ON sync_conflicts (zone, id) WHERE resolved_at IS NULL;

-- Edge credentials may expire; NULL = never.
ALTER TABLE edge_credentials ADD COLUMN expires_at TIMESTAMPTZ;
