//! The emulator's own fidelity: every row of tests/support/emulator/FIDELITY.md is
//! checked by its self-test against a launcher of its own, so a moto upgrade or a
//! launcher change that breaks a correction fails here, not as a puzzling e2e failure.

use std::path::Path;
use std::process::Command;

mod support;

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

/// ECR refuses a PutImage whose blobs, or whose index children, the repository does
/// not hold (FIDELITY.md E19), and so does the emulator, by default: every fixture
/// case carries the blobs its manifests name and seeds as buildx pushes it (the nested
/// index after the image it names); without its blobs, or without its children, a
/// manifest is refused with ECR's error.
#[tokio::test]
async fn every_fixture_seeds_with_its_blobs_and_is_refused_without_them() {
    use support::*;
    let mut seeded = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        // malformed's root is not JSON: ECR refuses it for that (bad_input.rs).
        if !dir.join("case.json").exists() || name == "malformed" {
            continue;
        }
        let repo = unique(&format!("fixture-{name}"));
        create_repository(&repo, false).await;
        seed(&repo, "v1", &load_case(&name)).await;
        seeded += 1;
    }
    assert!(seeded >= 20, "{seeded} cases");

    let ecr = ecr().await;
    let repo = unique("bare");
    create_repository(&repo, false).await;
    let put = |m: Manifest| {
        ecr.put_image()
            .repository_name(&repo)
            .image_manifest(m.bytes)
            .image_manifest_media_type(m.media_type)
            .image_digest(m.digest)
            .image_tag("v1")
            .send()
    };
    let err = put(load_case("docker-v2").root).await.unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_layers_not_found_exception()),
        "{err:?}"
    );
    let err = put(load_case("buildx-single").root).await.unwrap_err();
    assert!(
        err.as_service_error()
            .is_some_and(|e| e.is_referenced_images_not_found_exception()),
        "{err:?}"
    );
}
