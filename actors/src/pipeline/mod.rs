//! The actors and their wiring.

pub mod flow;
