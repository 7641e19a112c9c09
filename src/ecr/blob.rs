//! Blobs of a repository, without `docker login`: GetDownloadUrlForLayer gives a
//! pre-signed URL (ECR's own registry front end does the same for every blob), and a
//! plain GET of it gives the bytes.
//!
//! The URL is a bearer credential (it can carry the session token): it is never
//! logged or put in an error, and the GET carries no AWS credentials of its own.

use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_ecr::Client;
use aws_sdk_ecr::operation::get_download_url_for_layer::GetDownloadUrlForLayerError;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::Repository;
use crate::digest::Digest;
use crate::error::{AwsError, AwsErrorKind};

/// How long the GET of a blob may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a blob could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// GetDownloadUrlForLayer failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The GET of the pre-signed URL failed (the URL itself is never part of it).
    #[error("downloading the blob failed: {0}")]
    Download(String),
    /// The blob is larger than the caller's limit.
    #[error("the blob is larger than the {limit} bytes ecr-lambda reads")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
}

fn url_error(
    repo: &Repository,
    err: aws_sdk_ecr::error::SdkError<GetDownloadUrlForLayerError>,
) -> AwsError {
    let e = AwsError::from_sdk("GetDownloadUrlForLayer", err, |e| match e {
        GetDownloadUrlForLayerError::LayersNotFoundException(_)
        | GetDownloadUrlForLayerError::LayerInaccessibleException(_)
        | GetDownloadUrlForLayerError::RepositoryNotFoundException(_) => {
            Some(AwsErrorKind::NotFound)
        }
        GetDownloadUrlForLayerError::InvalidParameterException(_) => Some(AwsErrorKind::Invalid),
        _ => None,
    });
    match e.kind {
        AwsErrorKind::NotFound => e.with_hint(format!(
            "repository {} does not hold the blob (pushed without it, or deleted since)",
            repo.name
        )),
        _ => e,
    }
}

/// The bytes of blob `digest` of `repo`, at most `limit` of them. They are returned
/// as they came: the caller checks them against the descriptor that named them.
pub async fn read(
    client: &Client,
    repo: &Repository,
    digest: &Digest,
    limit: u64,
) -> Result<Vec<u8>, BlobError> {
    let answer = client
        .get_download_url_for_layer()
        .set_registry_id(repo.registry_id.clone())
        .repository_name(&repo.name)
        .layer_digest(digest.as_str())
        .send()
        .await
        .map_err(|e| url_error(repo, e))?;
    let url = answer.download_url().ok_or_else(|| {
        AwsError::new(
            "GetDownloadUrlForLayer",
            AwsErrorKind::Service,
            "ECR answered without a download URL",
        )
    })?;
    match tokio::time::timeout(FETCH_TIMEOUT, download(url, limit)).await {
        Ok(result) => result,
        Err(_) => Err(BlobError::Download(format!(
            "no answer within {} s",
            FETCH_TIMEOUT.as_secs()
        ))),
    }
}

fn http_client() -> Result<&'static HttpClient<HttpsConnector<HttpConnector>, Empty<Bytes>>, String>
{
    static CLIENT: OnceLock<HttpClient<HttpsConnector<HttpConnector>, Empty<Bytes>>> =
        OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| format!("no TLS root certificates: {e}"))?
        // Plain http only reaches a loopback emulator: checked per URL below.
        .https_or_http()
        .enable_http1()
        .build();
    Ok(CLIENT.get_or_init(|| HttpClient::builder(TokioExecutor::new()).build(https)))
}

/// Plain http is accepted for a loopback host only (a local emulator); anything on
/// the network must be https.
fn allowed(uri: &http::Uri) -> bool {
    match uri.scheme_str() {
        Some("https") => true,
        Some("http") => matches!(
            uri.host(),
            Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
        ),
        _ => false,
    }
}

async fn download(url: &str, limit: u64) -> Result<Vec<u8>, BlobError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|_| BlobError::Download("ECR gave a download URL that is not a URL".into()))?;
    if !allowed(&uri) {
        return Err(BlobError::Download(
            "ECR gave a download URL that is not https".into(),
        ));
    }
    let client = http_client().map_err(BlobError::Download)?;
    crate::calls::count_blob_get();
    // The error chain of a failed request names no URL, but scrub it anyway: it is a
    // credential.
    let scrub = |e: &(dyn std::error::Error + 'static)| {
        crate::error::causes(e)
            .replace(url, "<download URL>")
            .replace(uri.path(), "<path>")
    };
    let response = client
        .get(uri.clone())
        .await
        .map_err(|e| BlobError::Download(scrub(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(BlobError::Download(format!("HTTP {}", status.as_u16())));
    }
    let declared = response
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(BlobError::TooLarge { limit });
    }
    let cap = usize::try_from(limit).unwrap_or(usize::MAX);
    let body = Limited::new(response.into_body(), cap)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                BlobError::TooLarge { limit }
            } else {
                BlobError::Download(scrub(e.as_ref()))
            }
        })?;
    Ok(body.to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        let ok = |u: &str| allowed(&u.parse().unwrap());
        assert!(ok(
            "https://prod-us-east-1-starport-layer-bucket.s3.amazonaws.com/x?X-Amz-Security-Token=t"
        ));
        assert!(ok("http://127.0.0.1:5000/_emulator/blobs/abc"));
        assert!(ok("http://localhost/blob"));
        assert!(!ok("http://example.com/blob"));
        assert!(!ok("http://10.0.0.1/blob"));
        assert!(!ok("ftp://127.0.0.1/blob"));
    }
}
