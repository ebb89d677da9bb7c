//! `recourse schema policy`: print a published schema.

use crate::args::SchemaName;
use crate::exit::Status;
use crate::output;

pub(crate) fn run(which: SchemaName) -> Status {
    match which {
        SchemaName::Policy => output::data(crate::validate::SCHEMA.trim_end()),
    }
    Status::Ok
}
