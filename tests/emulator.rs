//! The emulator's own fidelity: every row of tests/support/emulator/FIDELITY.md is
//! checked by its self-test against a launcher of its own, so a moto upgrade or a
//! launcher change that breaks a correction fails here, not as a puzzling e2e failure.

use std::path::Path;
use std::process::Command;

#[test]
fn the_emulator_behaves_as_its_fidelity_table_says() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python)
        .arg(root.join("tests/support/emulator/selftest.py"))
        .current_dir(root)
        .output()
        .expect("run the emulator self-test (pip install \"moto[server]==5.2.5\")");
    assert!(
        out.status.success(),
        "the emulator self-test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
