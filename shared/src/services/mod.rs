//! Services of the kernel: what runs on a schedule for every group.

pub mod maintenance;
