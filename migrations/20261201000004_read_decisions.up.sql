-- How each task's source was read, table by table (header, columns, skipped sheets, row tally).
ALTER TABLE task_runs ADD COLUMN decisions jsonb;
