DROP TABLE supplier_mappings;
