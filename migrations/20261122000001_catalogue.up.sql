-- The catalogue: suppliers and their items, the internal product tree, price history and the
-- log of rows that could not be accepted. Column names follow the design documents so that
-- operators' SQL from them works unchanged.

CREATE TABLE suppliers (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL UNIQUE
                CHECK (btrim(name) <> '' AND char_length(name) <= 255),
    metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE categories (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (btrim(name) <> '' AND char_length(name) <= 255),
    parent_id   uuid REFERENCES categories (id) ON DELETE RESTRICT,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id),
    UNIQUE NULLS NOT DISTINCT (parent_id, name)
);
CREATE INDEX categories_parent_idx ON categories (parent_id);

CREATE TYPE product_status AS ENUM ('draft', 'active', 'archived');

CREATE TABLE products (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    internal_sku  text NOT NULL UNIQUE
                  CHECK (btrim(internal_sku) <> '' AND char_length(internal_sku) <= 255),
    name          text NOT NULL CHECK (btrim(name) <> '' AND char_length(name) <= 500),
    category_id   uuid REFERENCES categories (id) ON DELETE SET NULL,
    status        product_status NOT NULL DEFAULT 'draft',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX products_category_idx ON products (category_id);
CREATE INDEX products_status_idx ON products (status);

CREATE TABLE supplier_items (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    supplier_id      uuid NOT NULL REFERENCES suppliers (id) ON DELETE CASCADE,
    product_id       uuid REFERENCES products (id) ON DELETE SET NULL,
    supplier_sku     text NOT NULL
                     CHECK (btrim(supplier_sku) <> '' AND char_length(supplier_sku) <= 255),
    name             text NOT NULL CHECK (btrim(name) <> '' AND char_length(name) <= 500),
    current_price    numeric(12, 2) NOT NULL CHECK (current_price >= 0),
    characteristics  jsonb NOT NULL DEFAULT '{}'
                     CHECK (jsonb_typeof(characteristics) = 'object'),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT supplier_items_supplier_sku_key UNIQUE (supplier_id, supplier_sku)
)
-- Room in every page for a new version of its rows: a price change then stays a HOT update,
-- which touches no index (in particular not the GIN index of the unchanged characteristics).
WITH (fillfactor = 90);
-- jsonb_path_ops: smaller and faster than the default class for the containment queries
-- (characteristics @> '{"color": "red"}') the catalogue is searched with.
CREATE INDEX supplier_items_characteristics_idx
    ON supplier_items USING gin (characteristics jsonb_path_ops);
CREATE INDEX supplier_items_product_idx ON supplier_items (product_id);

CREATE TABLE price_history (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    supplier_item_id  uuid NOT NULL REFERENCES supplier_items (id) ON DELETE CASCADE,
    price             numeric(12, 2) NOT NULL CHECK (price >= 0),
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    -- The task that recorded the price, so a task's effect can be audited.
    task_id           uuid
);
CREATE INDEX price_history_item_recent_idx
    ON price_history (supplier_item_id, recorded_at DESC);

CREATE TABLE parsing_logs (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id        uuid NOT NULL,
    supplier_id    uuid REFERENCES suppliers (id) ON DELETE CASCADE,
    error_type     text NOT NULL,
    error_message  text NOT NULL,
    row_number     integer,
    row_data       jsonb,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parsing_logs_task_idx ON parsing_logs (task_id);
CREATE INDEX parsing_logs_supplier_idx ON parsing_logs (supplier_id);
CREATE INDEX parsing_logs_created_idx ON parsing_logs (created_at DESC);
