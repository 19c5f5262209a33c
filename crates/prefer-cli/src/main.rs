//! The `prefer` command.
fn main() {}
