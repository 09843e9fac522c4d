//! The Kotlin bindings, generated from the library, compiled with the
//! Kotlin compiler and run on the JVM with JNA, as an Android app runs
//! them, through the whole flow against a real server (`flow/Flow.kt`).

#[path = "flow/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

/// JNA, as Debian's `libjna-java` installs it.
const JNA: &str = "/usr/share/java/jna.jar";

/// The Kotlin compiler: `KOTLIN_HOME` (scripts/test.sh sets it), else the
/// one scripts/test.sh installs into `.tools/`.
fn kotlin_home() -> PathBuf {
    std::env::var_os("KOTLIN_HOME").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/node_modules/kotlin-compiler")
    })
}

#[test]
fn kotlin_enrols_picks_packs_delivers_offline_and_syncs() {
    let home = kotlin_home();
    let kotlinc = home.join("bin/kotlinc");
    let lib = home.join("lib");
    if !kotlinc.exists() {
        harness::missing(&format!("the Kotlin compiler ({})", kotlinc.display()));
    }
    if !Path::new(JNA).exists() {
        harness::missing(&format!("JNA ({JNA})"));
    }
    let coroutines = lib.join("kotlinx-coroutines-core-jvm.jar");
    let generated = harness::bindings("kotlin");
    let jar = generated.join("flow.jar");
    let classpath = |extra: &[&Path]| {
        let mut paths = vec![Path::new(JNA), coroutines.as_path()];
        paths.extend(extra);
        std::env::join_paths(paths).unwrap()
    };
    let status = Command::new(&kotlinc)
        .arg(generated.join("waybill/waybill_mobile.kt"))
        .arg(harness::programs().join("Flow.kt"))
        .args(["-nowarn", "-cp"])
        .arg(classpath(&[]))
        .arg("-d")
        .arg(&jar)
        .status()
        .unwrap();
    assert!(status.success(), "kotlinc failed");

    let stdlib = lib.join("kotlin-stdlib.jar");
    let mut program = Command::new("java");
    program
        .arg(format!("-Djna.library.path={}", generated.display()))
        .arg("-cp")
        .arg(classpath(&[&jar, &stdlib]))
        .arg("FlowKt");
    harness::run_flow(program);
}
