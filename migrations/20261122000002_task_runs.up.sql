-- One row per task: the system of record for what ran, with what result. The queue only
-- carries work; this table says what happened to it.

CREATE TYPE task_status AS ENUM (
    'running', 'completed', 'skipped_duplicate', 'retry_scheduled', 'dead_lettered'
);

CREATE TABLE task_runs (
    task_id             uuid PRIMARY KEY,
    supplier_id         uuid REFERENCES suppliers (id) ON DELETE SET NULL,
    supplier_name       text NOT NULL,
    parser_type         text NOT NULL,
    source              text NOT NULL,
    -- SHA-256 of the source content and the options it was read with.
    source_fingerprint  text,
    status              task_status NOT NULL,
    attempt             integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    rows_seen           bigint NOT NULL DEFAULT 0,
    rows_stored         bigint NOT NULL DEFAULT 0,
    rows_rejected       bigint NOT NULL DEFAULT 0,
    items_created       bigint NOT NULL DEFAULT 0,
    items_updated       bigint NOT NULL DEFAULT 0,
    items_unchanged     bigint NOT NULL DEFAULT 0,
    price_changes       bigint NOT NULL DEFAULT 0,
    notes               jsonb NOT NULL DEFAULT '[]',
    error               text,
    -- Every failed attempt: [{at, attempt, class, message}].
    errors              jsonb NOT NULL DEFAULT '[]',
    message             jsonb,
    started_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- The last successful ingestion of a supplier, for duplicate detection.
CREATE INDEX task_runs_supplier_completed_idx
    ON task_runs (supplier_id, finished_at DESC) WHERE status = 'completed';
CREATE INDEX task_runs_status_idx ON task_runs (status, updated_at DESC);
