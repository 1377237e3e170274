DROP TABLE source_metadata_errors;
DROP TABLE source_metadata;
DROP TABLE ingestion_log;
