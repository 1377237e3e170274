DROP INDEX ingestion_log_task_idx;
