//! Sets `cfg(quantlens_avx512)` when the compiler has the AVX-512 intrinsics
//! (stable since Rust 1.89), so the crate still builds with its MSRV (1.80);
//! the AVX-512 VNNI kernel is then simply not compiled in.
use std::process::Command;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(quantlens_avx512)");
    println!("cargo:rerun-if-changed=build.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let minor = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.split_whitespace().nth(1).and_then(|n| n.split('.').nth(1)).and_then(|m| m.parse::<u32>().ok()));
    if minor.is_some_and(|m| m >= 89) {
        println!("cargo:rustc-cfg=quantlens_avx512");
    }
}
