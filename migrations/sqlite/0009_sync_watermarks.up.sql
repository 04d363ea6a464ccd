-- Tombstones by acknowledgement (issue 4, sync/PROTOCOL.md §9.6). sync_replicas holds each
-- replica's watermark: the highest cursor it acknowledged (pull cursors, stream cursors and
-- acks), its scope (zones as a JSON array; NULL = every zone) and when it was last seen.
-- stale_at is set when it was silent past the replica horizon: it no longer holds tombstones
-- back and must re-bootstrap; floor is the cursor of the snapshot it re-bootstrapped from
-- (pulls below it are refused).
CREATE TABLE sync_replicas (
    node     TEXT PRIMARY KEY,
    zones    TEXT,
    cursor   INTEGER NOT NULL DEFAULT 0,
    floor    INTEGER NOT NULL DEFAULT 0,
    seen_at  INTEGER NOT NULL,
    stale_at INTEGER
);

-- Deleted rows whose changes were purged from the log once every holder acknowledged them;
-- pushes to them are refused. seq is the row's last change when it was purged.
CREATE TABLE sync_purged (
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    seq       INTEGER NOT NULL,
    purged_at INTEGER NOT NULL,
    PRIMARY KEY (entity, entity_id)
);

-- Ids of the purged changes with their seqs, so that a retried push of one is still answered
-- "duplicate" (kept apart from changes_dropped, whose highest seq sends replicas to a snapshot).
CREATE TABLE sync_purged_changes (
    id  TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);

-- The tombstone collector lists deleted rows without scanning the log.
CREATE INDEX idx_changes_deletes ON changes (entity, entity_id) WHERE op = 'delete';
