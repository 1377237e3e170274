//! Finding the current actor of each role. Actors are registered by name, so a restarted
//! actor is found under the same name; the instance prefix keeps two pipelines in one process
//! (tests) apart.

use std::collections::BTreeMap;
use std::sync::Arc;

use ractor::ActorRef;

use super::dlq::DlqMsg;
use super::metadata::MetadataMsg;
use super::parser::ParserMsg;
use super::validator::ValidatorMsg;
use super::writer::WriterMsg;
use crate::domain::ParserType;

#[derive(Debug, Clone)]
pub struct Directory {
    instance: Arc<str>,
    parsers: Arc<BTreeMap<ParserType, usize>>,
    validators: usize,
    writers: usize,
    /// Metadata actors; none when the worker runs no metadata tasks.
    metadata: usize,
}

impl Directory {
    pub fn new(parsers: BTreeMap<ParserType, usize>, validators: usize, writers: usize, metadata: usize) -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            instance: Arc::from(&id[..8]),
            parsers: Arc::new(parsers),
            validators: validators.max(1),
            writers: writers.max(1),
            metadata,
        }
    }

    pub fn parser_types(&self) -> impl Iterator<Item = (&ParserType, usize)> {
        self.parsers.iter().map(|(t, n)| (t, *n))
    }

    pub fn parser_count(&self, parser_type: &ParserType) -> usize {
        self.parsers.get(parser_type).copied().unwrap_or(0)
    }

    pub fn validators(&self) -> usize {
        self.validators
    }

    pub fn writers(&self) -> usize {
        self.writers
    }

    pub fn metadata_actors(&self) -> usize {
        self.metadata
    }

    pub fn parser_name(&self, parser_type: &ParserType, index: usize) -> String {
        format!("{}/parser/{parser_type}/{index}", self.instance)
    }

    pub fn validator_name(&self, index: usize) -> String {
        format!("{}/validator/{index}", self.instance)
    }

    pub fn writer_name(&self, index: usize) -> String {
        format!("{}/writer/{index}", self.instance)
    }

    pub fn metadata_name(&self, index: usize) -> String {
        format!("{}/metadata/{index}", self.instance)
    }

    pub fn dlq_name(&self) -> String {
        format!("{}/dlq", self.instance)
    }

    pub fn consumer_name(&self) -> String {
        format!("{}/queue-consumer", self.instance)
    }

    pub fn supervisor_name(&self) -> String {
        format!("{}/supervisor", self.instance)
    }

    pub fn parser(&self, parser_type: &ParserType, index: usize) -> Option<ActorRef<ParserMsg>> {
        lookup(self.parser_name(parser_type, index))
    }

    pub fn validator(&self, index: usize) -> Option<ActorRef<ValidatorMsg>> {
        lookup(self.validator_name(index))
    }

    pub fn writer(&self, index: usize) -> Option<ActorRef<WriterMsg>> {
        lookup(self.writer_name(index))
    }

    pub fn metadata(&self, index: usize) -> Option<ActorRef<MetadataMsg>> {
        lookup(self.metadata_name(index))
    }

    pub fn dlq(&self) -> Option<ActorRef<DlqMsg>> {
        lookup(self.dlq_name())
    }

    /// Names of every actor of the pipeline that should be running.
    pub fn all_names(&self, with_consumer: bool) -> Vec<String> {
        let mut names = vec![self.dlq_name()];
        names.extend((0..self.writers).map(|i| self.writer_name(i)));
        names.extend((0..self.validators).map(|i| self.validator_name(i)));
        for (t, n) in self.parsers.iter() {
            names.extend((0..*n).map(|i| self.parser_name(t, i)));
        }
        names.extend((0..self.metadata).map(|i| self.metadata_name(i)));
        if with_consumer {
            names.push(self.consumer_name());
        }
        names
    }
}

fn lookup<M: ractor::Message>(name: String) -> Option<ActorRef<M>> {
    ractor::registry::where_is(name).map(ActorRef::from)
}
