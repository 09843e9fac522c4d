//! The Python bindings, generated from the library, driven through the
//! whole flow against a real server by `flow/flow.py`.

#[path = "flow/harness.rs"]
mod harness;

use std::process::Command;

#[test]
fn python_enrols_picks_packs_delivers_offline_and_syncs() {
    if Command::new("python3").arg("--version").output().is_err() {
        harness::missing("python3");
    }
    let generated = harness::bindings("python");
    let mut program = Command::new("python3");
    program.arg(harness::programs().join("flow.py")).env("PYTHONPATH", &generated);
    harness::run_flow(program);
}
