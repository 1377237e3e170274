DROP INDEX task_runs_supplier_started_idx;
DROP INDEX task_runs_started_idx;
