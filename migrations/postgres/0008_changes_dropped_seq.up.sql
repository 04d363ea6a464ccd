-- Bootstrap (issue 4, sync/PROTOCOL.md §9.5): the hub tells a replica whose cursor is below
-- the highest seq compaction dropped to re-bootstrap from a snapshot; this index answers
-- MAX(seq) at every pull and stream without a scan.
CREATE INDEX changes_dropped_seq ON changes_dropped (seq);
