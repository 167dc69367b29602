//! Packs the binary's relative relocations (`-z pack-relative-relocs`, DT_RELR) where that is
//! safe, for the idle memory budget.
//!
//! The gateway is a position-independent executable, and its 67,000 relative relocations took
//! 1.6 MB as a plain table (`.rela.dyn`), which the loader reads whole at every start, so all
//! of it stayed resident: about 6% of the idle resident set. Packed, the table is a few
//! kilobytes and the binary stays position-independent (ASLR is kept).
//!
//! A packed binary needs glibc 2.36 or later where it runs, so this applies only to a dynamic
//! Linux glibc build made on a machine whose own glibc is that new (the binary runs where it
//! was built), with the default linker, and only if the machine's C compiler links with the
//! flag. A configured linker (`RUSTC_LINKER`: cross or older-glibc toolchains such as
//! cargo-zigbuild) and the static build (`.config/static.toml`, `+crt-static`) are left as they
//! were. `GCLI2API_PLAIN_RELOCS=1` turns it off, for a binary meant for an older glibc.
use std::process::Command;

fn main() {
    for var in ["GCLI2API_PLAIN_RELOCS", "RUSTC_LINKER", "CC"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    println!("cargo:rerun-if-changed=build.rs");
    if packing_is_safe() {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}

fn packing_is_safe() -> bool {
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("GCLI2API_PLAIN_RELOCS") == "1"
        || !var("RUSTC_LINKER").is_empty()
        || var("CARGO_CFG_TARGET_OS") != "linux"
        || var("CARGO_CFG_TARGET_ENV") != "gnu"
        || var("CARGO_CFG_TARGET_FEATURE")
            .split(',')
            .any(|f| f == "crt-static")
        || var("HOST") != var("TARGET")
    {
        return false;
    }
    host_glibc().is_some_and(|v| v >= (2, 36)) && linker_accepts_flag()
}

/// The running glibc's version, from `getconf GNU_LIBC_VERSION` ("glibc 2.36").
fn host_glibc() -> Option<(u32, u32)> {
    let out = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    let version = text.trim().strip_prefix("glibc ")?;
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.trim().parse().ok()?;
    Some((major, minor))
}

/// Links an empty C program with the flag: an older linker rejects it.
fn linker_accepts_flag() -> bool {
    let dir = std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into());
    let src = std::path::Path::new(&dir).join("relr_probe.c");
    let exe = std::path::Path::new(&dir).join("relr_probe");
    if std::fs::write(&src, "int main(void) { return 0; }\n").is_err() {
        return false;
    }
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    Command::new(cc)
        .arg("-Wl,-z,pack-relative-relocs")
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .is_ok_and(|o| o.status.success())
}
