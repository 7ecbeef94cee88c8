//! Amazon Security Lake data access, in the order data flows through the scorer:
//! [`notification`] (what the subscriber queue announces) -> [`key`] (where an object sits in the
//! lake) -> [`object`] (reading it from S3 or disk) -> [`pairs`] (the (entity, IPv4) pairs in it).
//! [`simulate`] writes a local lake with the physical layout of AWS's own objects.

pub mod key;
pub mod notification;
pub mod source;

pub use source::{Source, SourceVersion};
