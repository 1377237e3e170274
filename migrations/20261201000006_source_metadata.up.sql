-- The technical-metadata family: one row per record of an artifact (a copybook field, a
-- manifest's resource …), the artifacts refused with why, and one row per run.

CREATE TABLE ingestion_log (
    run_id            uuid PRIMARY KEY,
    task_id           uuid,
    kind              text NOT NULL,
    source            text NOT NULL,
    status            text NOT NULL
                      CHECK (status IN ('running', 'completed', 'completed_with_errors', 'failed')),
    files_seen        integer NOT NULL DEFAULT 0,
    files_ingested    integer NOT NULL DEFAULT 0,
    files_rejected    integer NOT NULL DEFAULT 0,
    bytes             bigint NOT NULL DEFAULT 0,
    records_seen      bigint NOT NULL DEFAULT 0,
    records_inserted  bigint NOT NULL DEFAULT 0,
    records_updated   bigint NOT NULL DEFAULT 0,
    records_unchanged bigint NOT NULL DEFAULT 0,
    records_deleted   bigint NOT NULL DEFAULT 0,
    parser_version    text NOT NULL,
    started_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz,
    duration_ms       bigint
);
CREATE INDEX ingestion_log_started_idx ON ingestion_log (started_at DESC);

CREATE TABLE source_metadata (
    -- Hex SHA-256 of semantic_path: the same record gets the same id on every run.
    id                  text PRIMARY KEY,
    semantic_path       text NOT NULL UNIQUE,
    source_kind         text NOT NULL,
    source_name         text NOT NULL,
    parent_id           text,
    record_kind         text NOT NULL,
    name                text NOT NULL,
    data_type           text,
    attributes          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    content             text,
    chunk_index         integer NOT NULL DEFAULT 0,
    chunk_count         integer NOT NULL DEFAULT 1,
    line_start          integer,
    line_end            integer,
    content_sha256      text NOT NULL,
    first_run_id        uuid NOT NULL,
    last_changed_run_id uuid NOT NULL,
    -- Set when a later run of its source no longer has the record; cleared if it returns.
    deleted_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX source_metadata_source_idx ON source_metadata (source_kind, source_name);
CREATE INDEX source_metadata_kind_idx ON source_metadata (record_kind);
CREATE INDEX source_metadata_parent_idx ON source_metadata (parent_id);
CREATE INDEX source_metadata_attributes_idx ON source_metadata USING gin (attributes jsonb_path_ops);

CREATE TABLE source_metadata_errors (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id       uuid NOT NULL,
    source_name  text NOT NULL,
    line         integer,
    col          integer,
    error_class  text NOT NULL,
    message      text NOT NULL,
    excerpt      text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX source_metadata_errors_run_idx ON source_metadata_errors (run_id);
