-- A supplier's new complete list is its whole offer: items it no longer lists are marked
-- unavailable (never deleted: their history stays) and offered again when they come back.

ALTER TABLE supplier_items
    ADD COLUMN available boolean NOT NULL DEFAULT true,
    ADD COLUMN unavailable_since timestamptz;
-- A supplier's currently offered items: one indexed condition.
CREATE INDEX supplier_items_offered_idx ON supplier_items (supplier_id) WHERE available;

ALTER TABLE task_runs
    ADD COLUMN items_disappeared bigint NOT NULL DEFAULT 0,
    ADD COLUMN items_returned bigint NOT NULL DEFAULT 0;
