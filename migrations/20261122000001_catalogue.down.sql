DROP TABLE parsing_logs;
DROP TABLE price_history;
DROP TABLE supplier_items;
DROP TABLE products;
DROP TYPE product_status;
DROP TABLE categories;
DROP TABLE suppliers;
