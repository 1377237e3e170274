ALTER TABLE suppliers DROP COLUMN applied_task_id, DROP COLUMN applied_list_at;
ALTER TABLE task_runs DROP COLUMN list_at;

-- An enum value cannot be dropped: rebuild the type without it.
UPDATE task_runs SET status = 'skipped_duplicate' WHERE status = 'superseded';
DROP INDEX task_runs_supplier_completed_idx;
DROP INDEX task_runs_status_idx;
ALTER TYPE task_status RENAME TO task_status_with_superseded;
CREATE TYPE task_status AS ENUM (
    'running', 'completed', 'skipped_duplicate', 'retry_scheduled', 'dead_lettered'
);
ALTER TABLE task_runs ALTER COLUMN status TYPE task_status USING status::text::task_status;
DROP TYPE task_status_with_superseded;
CREATE INDEX task_runs_supplier_completed_idx
    ON task_runs (supplier_id, finished_at DESC) WHERE status = 'completed';
CREATE INDEX task_runs_status_idx ON task_runs (status, updated_at DESC);
