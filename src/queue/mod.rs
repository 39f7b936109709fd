//! Queues: Announcement (broadcast with backlog) and Funnel (join by job id).
