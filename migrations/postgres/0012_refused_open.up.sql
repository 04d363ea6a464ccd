-- A pushed change the hub refuses is recorded as a conflict of kind refused. When its answer
-- was lost and the change, sent again, is accepted (the row allows it by then), the record
-- no longer holds: the push that logs the change withdraws it. This index finds the open
-- refused records by change id; there are few, so probing it for every logged change is
-- cheap.
CREATE INDEX idx_sync_conflicts_refused_open ON sync_conflicts (change_id) WHERE kind = 'refused' AND resolved_at IS NULL;
