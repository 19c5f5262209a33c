mod batch;
mod common;
mod grads;
mod parity;
mod save;
mod stories;
