//! Integration tests: the whole service against a real PostgreSQL and a real Redis.
//! Each test has a database, a Redis key prefix and a directory of its own.

mod artifacts;
mod bigquery;
mod cli;
mod copybooks;
mod corpus;
mod crash;
mod download;
mod fake_bigquery;
mod fixture_files;
mod fixtures;
mod google;
mod google_auth;
mod guard;
mod helpers;
mod hostile;
mod ingest;
mod memory;
mod message;
mod metadata;
mod metadata_queue;
mod operations;
mod order;
mod preview;
mod promises;
mod redelivery;
mod reference;
mod retries;
mod roles;
mod schema;
mod servers;
mod story;
mod workbook;
