-- Metadata runs started by queued tasks are found by their task (a failed attempt closes them).
CREATE INDEX ingestion_log_task_idx ON ingestion_log (task_id) WHERE task_id IS NOT NULL;
