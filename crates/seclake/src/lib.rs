//! Amazon Security Lake data access, in the order data flows through the scorer:
//! [`notification`] (what the subscriber queue announces) -> [`key`] (where an object sits in the
//! lake) -> [`object`] (reading it from S3 or disk, its footer checked by
//! [`footer_check`]) -> [`pairs`] (the (entity, IPv4) pairs in it).
//! [`findings`] reads Security Hub findings for trend analysis; [`athena`] writes the same
//! extraction and aggregation as Athena SQL for lakes beyond one machine.
//! [`simulate`] writes a local lake with the physical layout of AWS's own objects.

pub mod athena;
pub mod evidence;
pub mod findings;
pub mod footer_check;
pub mod groups;
pub mod ipv4;
pub mod key;
pub mod lake;
pub mod notification;
pub mod object;
pub mod pairing;
pub mod pairs;
#[cfg(feature = "simulate")]
pub mod simulate;
pub mod source;

pub use groups::{EntityScope, GroupMap};
pub use key::{EventDay, KeyError, LakeKey};
pub use lake::{LakeError, LakeObject, LakeRoot, Shuffler, Window};
pub use notification::{Notification, NotificationError, ObjectRef, parse_body};
pub use object::{
    ObjectLocation, ObjectReader, ReadOptions, S3Reader, extract_bytes, extract_local, s3_client,
};
pub use pairs::{
    DropReason, ExtractError, ExtractOptions, ExtractStats, GroupBy, Pair, PairExtractor,
    PairFacts, PairSet, Pairing,
};
pub use source::{Source, SourceVersion};
