//! `recourse schema policy`: print a published schema.

use crate::args::SchemaName;
use crate::exit::Status;
use crate::output;

/// The published event schema.
const EVENT_SCHEMA: &str = include_str!("../../../schemas/event.schema.json");

pub(crate) fn run(which: SchemaName) -> Status {
    match which {
        SchemaName::Policy => output::data(crate::validate::SCHEMA.trim_end()),
        SchemaName::Event => output::data(EVENT_SCHEMA.trim_end()),
    }
    Status::Ok
}
