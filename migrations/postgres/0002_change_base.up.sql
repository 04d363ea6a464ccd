-- Per-field base clocks of a change (domain.Change.Base, JSON object field -> HLC text): what
-- the origin had seen of each field when it wrote. Sync merge needs it to detect concurrent
-- writes, so it travels with the change through the hub's log.
ALTER TABLE changes ADD COLUMN base JSONB NOT NULL DEFAULT '{}';
