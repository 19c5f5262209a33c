mod batch;
mod common;
mod grads;
mod parity;
mod save;
mod step_timing;
mod stories;
