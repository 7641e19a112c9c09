//! Images and versions for the retention tests (`retain`, `prune`, the way back).

use super::*;

/// A distinct single-platform image in `repo` (its own config and layer blobs),
/// pushed under `tag` or by digest only: its digest.
pub async fn push_image(repo: &str, tag: Option<&str>, n: &str) -> String {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Cmd":["handler"],"Labels":{{"n":"{n}"}}}},"rootfs":{{"type":"layers","diff_ids":[]}}}}"#
    );
    let config_digest = upload_blob(repo, config.as_bytes()).await;
    let layer = format!("layer {repo} {n}");
    let layer_digest = upload_blob(repo, layer.as_bytes()).await;
    let bytes = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":{},"digest":"{config_digest}"}},"layers":[{{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":{},"digest":"{layer_digest}"}}]}}"#,
        config.len(),
        layer.len()
    );
    let m = Manifest {
        digest: sha256(bytes.as_bytes()),
        bytes,
        media_type: "application/vnd.docker.distribution.manifest.v2+json".into(),
    };
    put(repo, tag, &m).await;
    m.digest
}

/// Updates the function to `digest` and publishes it: the version's number.
pub async fn publish(function: &str, repo: &str, digest: &str) -> String {
    let out = lambda()
        .await
        .update_function_code()
        .function_name(function)
        .image_uri(uri(repo, &format!("@{digest}")))
        .publish(true)
        .send()
        .await
        .unwrap_or_else(|e| panic!("publish {function}: {e:?}"));
    out.version().unwrap().to_owned()
}

/// The image's tags, sorted (DescribeImages, every storage state).
pub async fn tags_of(repo: &str, digest: &str) -> Vec<String> {
    let out = ecr()
        .await
        .describe_images()
        .repository_name(repo)
        .image_ids(
            aws_sdk_ecr::types::ImageIdentifier::builder()
                .image_digest(digest)
                .build(),
        )
        .filter(
            aws_sdk_ecr::types::DescribeImagesFilter::builder()
                .image_status(aws_sdk_ecr::types::ImageStatusFilter::Any)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut tags = out.image_details()[0].image_tags().to_vec();
    tags.sort();
    tags
}

/// The image's protective tags (`lambda.`), sorted.
pub async fn protective_tags(repo: &str, digest: &str) -> Vec<String> {
    tags_of(repo, digest)
        .await
        .into_iter()
        .filter(|t| t.starts_with("lambda."))
        .collect()
}
