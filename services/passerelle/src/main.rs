//! passerelle
fn main() {}
