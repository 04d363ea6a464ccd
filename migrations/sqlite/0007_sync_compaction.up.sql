-- Log compaction (issue 4, sync/PROTOCOL.md §9). sync_state holds named values of the sync
-- engine: 'horizon' is the enforced horizon (an HLC text; only moves forward; pushes of
-- changes below it to rows that have history are refused) and 'compacted' the horizon every
-- row of the log has been compacted with. Both are written by the compactor only.
CREATE TABLE sync_state (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO sync_state (name, value) VALUES ('horizon', ''), ('compacted', '');

-- Ids of changes compaction deleted from the log, with the seq they had, so that a retried
-- push of a dropped change is still answered "duplicate" (its seq is now a hole in the log).
CREATE TABLE changes_dropped (
    id         TEXT PRIMARY KEY,
    seq        INTEGER NOT NULL,
    dropped_at INTEGER NOT NULL
);
