DROP TABLE task_runs;
DROP TYPE task_status;
