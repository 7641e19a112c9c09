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
use crate::calls::CallStats;
use crate::digest::{BlobMismatch, Digest, verify_blob};
use crate::error::{AwsError, AwsErrorKind};

/// How long one GET of a blob may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// GETs of the URL before giving up on a transient failure (S3 answers 500 or 503 now
/// and then, as every AWS service does; the SDK retries its own calls the same way).
pub const GET_ATTEMPTS: u32 = 3;

/// Why a blob could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// GetDownloadUrlForLayer failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The GET of the pre-signed URL failed (the URL itself is never part of it).
    #[error("downloading the blob failed: {0}")]
    Download(#[from] DownloadError),
    /// The blob is larger than the caller's limit: by its descriptor (nothing was
    /// asked), or as it came.
    #[error("the blob is larger than the {limit} bytes ecr-lambda reads")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The bytes are not what the descriptor names.
    #[error("the blob is not what its descriptor names: {0}")]
    Mismatch(#[from] BlobMismatch),
}

/// Why the GET of a pre-signed URL failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DownloadError {
    /// ECR gave something that is not a URL.
    #[error("ECR gave a download URL that is not a URL")]
    NotAUrl,
    /// ECR gave a URL that is neither https nor loopback http.
    #[error("ECR gave a download URL that is not https")]
    NotHttps,
    /// No TLS roots to check the server with.
    #[error("no TLS root certificates: {0}")]
    NoRoots(String),
    /// An answer other than 2xx.
    #[error("HTTP {0}")]
    Status(u16),
    /// The connection failed (the causes, the URL scrubbed from them).
    #[error("{0}")]
    Transport(String),
    /// No answer in time.
    #[error("no answer within {} s", FETCH_TIMEOUT.as_secs())]
    Timeout,
}

impl DownloadError {
    /// Worth another GET: the server's fault, or the network's.
    fn transient(&self) -> bool {
        match self {
            DownloadError::Status(status) => *status >= 500 || *status == 429,
            DownloadError::Transport(_) | DownloadError::Timeout => true,
            DownloadError::NotAUrl | DownloadError::NotHttps | DownloadError::NoRoots(_) => false,
        }
    }
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

/// The bytes of blob `digest` of `repo` (its descriptor says `size`), checked against
/// that size and digest: the one way ecr-lambda reads a blob (configs, in-toto
/// statements). Nothing is asked when `size` is over `limit`; a transient failure of
/// the GET is tried again, [`GET_ATTEMPTS`] in all. Each GET is counted in `calls`
/// (`GetBlob`).
pub async fn read_verified(
    client: &Client,
    calls: &CallStats,
    repo: &Repository,
    digest: &Digest,
    size: u64,
    limit: u64,
) -> Result<Vec<u8>, BlobError> {
    if size > limit {
        return Err(BlobError::TooLarge { limit });
    }
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
    let mut attempt = 1;
    let bytes = loop {
        calls.count_blob_get();
        let got = match tokio::time::timeout(FETCH_TIMEOUT, download(url, limit)).await {
            Ok(got) => got,
            Err(_) => Err(BlobError::Download(DownloadError::Timeout)),
        };
        match got {
            Err(BlobError::Download(e)) if e.transient() && attempt < GET_ATTEMPTS => {
                tracing::debug!("GET of blob {digest} failed ({e}); trying again");
                tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(attempt - 1)).await;
                attempt += 1;
            }
            other => break other?,
        }
    };
    verify_blob(digest, size, &bytes)?;
    Ok(bytes)
}

fn http_client()
-> Result<&'static HttpClient<HttpsConnector<HttpConnector>, Empty<Bytes>>, DownloadError> {
    static CLIENT: OnceLock<HttpClient<HttpsConnector<HttpConnector>, Empty<Bytes>>> =
        OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
        .map_err(|e| DownloadError::NoRoots(e.to_string()))?
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
    let uri: http::Uri = url.parse().map_err(|_| DownloadError::NotAUrl)?;
    if !allowed(&uri) {
        return Err(DownloadError::NotHttps.into());
    }
    let client = http_client()?;
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
        .map_err(|e| DownloadError::Transport(scrub(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(DownloadError::Status(status.as_u16()).into());
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
                BlobError::Download(DownloadError::Transport(scrub(e.as_ref())))
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
