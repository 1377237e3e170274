//! The supervised actor pipeline of intake and the pure code it runs.
//!
//! - [`domain`]: the types every part speaks (tasks, sources, catalogue values).
//! - [`envelope`]: a task as the queue carries it, of either record family.
//! - [`ports`]: what the pipeline needs from the outside (queue, catalogue store, sources) and
//!   what a decoder for a new source type implements.
//! - [`table`], [`decode`], [`mapping`]: reading csv, spreadsheets and sheet values into rows,
//!   finding headers and mapping columns, validating rows into items. No I/O beyond reading a
//!   local file.
//! - [`pipeline`]: the actors (QueueConsumer → ParserActor → ValidatorActor → DbWriterActor,
//!   DlqActor) under one supervisor, with bounded flow between them.
//!
//! The crate knows nothing of PostgreSQL, Redis or HTTP: the service implements the ports.

pub mod decode;
pub mod domain;
pub mod envelope;
pub mod flow;
pub mod mapping;
pub mod metadata;
pub mod pipeline;
pub mod ports;
pub mod table;
