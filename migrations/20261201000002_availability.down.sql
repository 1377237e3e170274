ALTER TABLE task_runs DROP COLUMN items_returned, DROP COLUMN items_disappeared;
DROP INDEX supplier_items_offered_idx;
ALTER TABLE supplier_items DROP COLUMN unavailable_since, DROP COLUMN available;
