-- A supplier's lists take effect in order: each task carries the instant that orders it (the
-- producer's list date, or when it was first enqueued), and each supplier remembers the
-- newest one applied. An older list is recorded as superseded and changes nothing.

ALTER TYPE task_status ADD VALUE IF NOT EXISTS 'superseded';

ALTER TABLE task_runs ADD COLUMN list_at timestamptz;

ALTER TABLE suppliers
    ADD COLUMN applied_list_at timestamptz,
    ADD COLUMN applied_task_id uuid;

-- Lists applied before this release count from when they ran.
UPDATE suppliers s SET (applied_list_at, applied_task_id) = (
    SELECT t.started_at, t.task_id FROM task_runs t
    WHERE t.supplier_id = s.id AND t.status = 'completed'
    ORDER BY t.finished_at DESC LIMIT 1
);
