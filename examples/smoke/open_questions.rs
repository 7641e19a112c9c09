//! Step 7: questions no document answers and no public record settles, observed on
//! the account and written to `--json` (FIDELITY.md's **uncertain** rows). Each is
//! recorded, never judged: a refusal is an answer too.
//!
//! - `put_image_without_blobs` (E19): PutImage of a manifest whose config and layer
//!   were never uploaded.
//! - `describe_images_ids_and_status_filter` (E13): DescribeImages with `imageIds`
//!   and `filter.imageStatus` together.
//! - `publish_to_on_an_ordinary_function` (L14, temporary function only):
//!   UpdateFunctionCode(`Publish`, `PublishTo: LATEST_PUBLISHED`) of a function
//!   without a capacity provider.
//! - `managed_instances_image_function` (L14, temporary function only): CreateFunction
//!   of a container image function with a capacity provider that does not exist:
//!   which check Lambda makes first says whether image functions may run on Lambda
//!   Managed Instances at all. A function that is created after all is deleted.

use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::types::{DescribeImagesFilter, ImageIdentifier, ImageStatusFilter};
use aws_sdk_lambda::types::{
    CapacityProviderConfig, FunctionCode, FunctionVersionLatestPublished,
    LambdaManagedInstancesCapacityProviderConfig, PackageType,
};
use serde_json::{Value, json};

use super::{OCI_CONFIG, OCI_MANIFEST, Smoke, descriptor, sha256};

/// An SDK error as a JSON answer: its code and message.
fn refused(e: &impl ProvideErrorMetadata) -> Value {
    json!({"accepted": false, "code": e.code(), "message": e.message()})
}

pub(crate) async fn observe(s: &mut Smoke, image: &str, repository_uri: &str) {
    // Blobs never uploaded: made from this run's name, so no repository holds them.
    let config = format!("{{\"never-uploaded\": \"{}\"}}", s.repo).into_bytes();
    let layer = format!("never uploaded: {}", s.repo).into_bytes();
    let manifest = json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config),
        "layers": [descriptor("application/vnd.oci.image.layer.v1.tar+gzip", &layer)]})
    .to_string();
    let put = s
        .clients
        .ecr
        .put_image()
        .repository_name(&s.repo)
        .image_manifest(&manifest)
        .image_manifest_media_type(OCI_MANIFEST)
        .image_digest(sha256(manifest.as_bytes()))
        .send()
        .await;
    s.observe(
        "put_image_without_blobs",
        match put {
            Ok(_) => json!({"accepted": true}),
            Err(e) => refused(&e),
        },
    );

    let described = s
        .clients
        .ecr
        .describe_images()
        .repository_name(&s.repo)
        .image_ids(ImageIdentifier::builder().image_digest(image).build())
        .filter(
            DescribeImagesFilter::builder()
                .image_status(ImageStatusFilter::Any)
                .build(),
        )
        .send()
        .await;
    s.observe(
        "describe_images_ids_and_status_filter",
        match described {
            Ok(out) => json!({"accepted": true, "images": out.image_details().len(),
                "statuses": out.image_details().iter()
                    .map(|d| d.image_status().map(|s| s.as_str().to_owned()))
                    .collect::<Vec<_>>()}),
            Err(e) => refused(&e),
        },
    );

    let Some(role) = s.role_arn.clone().filter(|_| s.created_function) else {
        let skipped = json!({"skipped": "no temporary function (--function run)"});
        s.observe("publish_to_on_an_ordinary_function", skipped.clone());
        s.observe("managed_instances_image_function", skipped);
        return;
    };
    let uri = format!("{repository_uri}@{image}");
    let published = s
        .clients
        .lambda
        .update_function_code()
        .function_name(&s.function.id)
        .image_uri(&uri)
        .publish(true)
        .publish_to(FunctionVersionLatestPublished::LatestPublished)
        .send()
        .await;
    s.observe(
        "publish_to_on_an_ordinary_function",
        match published {
            Ok(out) => json!({"accepted": true, "version": out.version(),
                "state": out.state().map(|s| s.as_str().to_owned()),
                "last_update_status": out.last_update_status().map(|s| s.as_str().to_owned())}),
            Err(e) => refused(&e),
        },
    );

    let (account, region) = (
        repository_uri.split('.').next().unwrap_or_default(),
        &s.clients.lambda_region,
    );
    let capacity = LambdaManagedInstancesCapacityProviderConfig::builder()
        .capacity_provider_arn(format!(
            "arn:aws:lambda:{region}:{account}:capacity-provider:{}-none",
            s.repo
        ))
        .build();
    let name = format!("{}-mi", s.function.id);
    let created = match capacity {
        Ok(capacity) => {
            s.clients
                .lambda
                .create_function()
                .function_name(&name)
                .role(role)
                .package_type(PackageType::Image)
                .code(FunctionCode::builder().image_uri(&uri).build())
                .capacity_provider_config(
                    CapacityProviderConfig::builder()
                        .lambda_managed_instances_capacity_provider_config(capacity)
                        .build(),
                )
                .send()
                .await
        }
        Err(e) => {
            s.observe(
                "managed_instances_image_function",
                json!({"skipped": e.to_string()}),
            );
            return;
        }
    };
    let seen = match created {
        Ok(out) => {
            let deleted = s
                .clients
                .lambda
                .delete_function()
                .function_name(&name)
                .send()
                .await;
            json!({"accepted": true, "state": out.state().map(|s| s.as_str().to_owned()),
                   "deleted": deleted.is_ok()})
        }
        Err(e) => refused(&e),
    };
    s.observe("managed_instances_image_function", seen);
}
