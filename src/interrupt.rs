//! Ctrl-C, heard wherever a command is when it comes: in a wait, between two writes,
//! or in one of several functions' tasks.
//!
//! A signal handler is the process's, so this is too: [`install`] starts one listener
//! for the whole run (the binary calls it first thing; a library user who wants Ctrl-C
//! handled calls it too). Without it, nothing is ever interrupted. Once heard, it
//! stays heard: every wait ends at once, and no further write starts.

use std::sync::OnceLock;

use tokio::sync::watch;

static HEARD: OnceLock<watch::Receiver<bool>> = OnceLock::new();

/// Starts listening for Ctrl-C (SIGINT), once per process; later calls do nothing.
/// Call it inside the Tokio runtime the commands run on.
pub fn install() {
    HEARD.get_or_init(|| {
        let (tx, rx) = watch::channel(false);
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = tx.send(true);
            }
            // Keep the sender alive so that receivers never see the channel close.
            std::future::pending::<()>().await;
        });
        rx
    });
}

/// Whether Ctrl-C has been heard.
pub fn heard() -> bool {
    HEARD.get().is_some_and(|rx| *rx.borrow())
}

/// Resolves once Ctrl-C is heard (at once if it already was); never without
/// [`install`].
pub async fn ctrl_c() {
    match HEARD.get() {
        Some(rx) => {
            let mut rx = rx.clone();
            let _ = rx.wait_for(|heard| *heard).await;
        }
        None => std::future::pending().await,
    }
}
