//! Dense indices into one [`Snapshot`](super::Snapshot): a request carries these instead of
//! names, so the per-request path compares integers and indexes vectors.
//!
//! An id is only meaningful for the snapshot that issued it; a reload builds new ids.

/// Index of a geography in a [`Snapshot`](super::Snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GeoId(pub u16);

/// Index of a region in a [`Snapshot`](super::Snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionId(pub u32);

/// Index of an origin in a [`Snapshot`](super::Snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OriginId(pub u32);
