-- Listing recent tasks, all or one supplier's, without scanning task_runs.
CREATE INDEX task_runs_started_idx ON task_runs (started_at DESC);
CREATE INDEX task_runs_supplier_started_idx ON task_runs (supplier_name, started_at DESC);
