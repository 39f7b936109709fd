//! Queues: [`Announcement`] (broadcast with backlog) and
//! [`Funnel`] (join by job id).

mod announcement;
mod funnel;

pub(crate) use announcement::FarPeer;
pub use announcement::{Announcement, SubscribeFinalizedError};
pub use funnel::{Funnel, FunnelInput};
