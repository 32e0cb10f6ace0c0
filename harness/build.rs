//! `fixtures/` is embedded with `include_dir!`, which stable Rust cannot track: rebuild the
//! harness whenever anything under it changes.
fn main() {
    println!("cargo:rerun-if-changed=../fixtures");
}
