-- A supplier's remembered column mapping: the header text of each field's column, saved when
-- an operator mapped a list by hand, applied to the supplier's next lists whose header still
-- holds those texts.
CREATE TABLE supplier_mappings (
    supplier_id  uuid PRIMARY KEY REFERENCES suppliers (id) ON DELETE CASCADE,
    mapping      jsonb NOT NULL CHECK (jsonb_typeof(mapping) = 'object'),
    task_id      uuid,
    saved_at     timestamptz NOT NULL DEFAULT now()
);
