//! The benchmark's proxy: the tests' fault-injecting proxy, run as a program that
//! adds a fixed round trip to every request and counts calls.
//!
//!   bench-proxy UPSTREAM_PORT LATENCY_MS
//!
//! Prints its port, then serves until its standard input closes.
//! `GET /__proxy/calls` lists the calls seen; `POST /__proxy/clear` forgets them.

#[path = "../../../tests/support/proxy.rs"]
mod proxy;

use std::io::Read;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(upstream), Some(latency)) = (
        args.get(1).and_then(|a| a.parse().ok()),
        args.get(2).and_then(|a| a.parse().ok()),
    ) else {
        eprintln!("usage: bench-proxy UPSTREAM_PORT LATENCY_MS");
        std::process::exit(2);
    };
    let proxy = proxy::Proxy::start(upstream, Duration::from_millis(latency));
    println!("{}", proxy.port);
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    proxy.stop();
}
