//! The HTTP listening socket. At class start up to 200 students open their WebSocket
//! within a second; `TcpListener::bind` listens with the platform's old `SOMAXCONN`
//! (128 on Linux), so the rest of such a burst overflowed the accept queue and waited for
//! a SYN retransmit (≈1 s) — see the join-storm figures in `benches/RESULTS.md`. The
//! kernel caps the backlog asked here at `net.core.somaxconn`.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Connections the kernel may hold waiting for `accept`.
pub const BACKLOG: u32 = 1024;

/// Binds `addr` and listens with [`BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does on Unix: a restarted server rebinds at once.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A burst of connections larger than the old backlog is queued in full even while
    /// nothing accepts (each connect completes once the kernel queues it).
    #[tokio::test]
    async fn a_class_start_burst_fits_the_accept_queue() {
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        if somaxconn < 300 {
            eprintln!("net.core.somaxconn is {somaxconn}: the kernel caps the backlog; skipped");
            return;
        }
        let listener = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let connects: Vec<_> = (0..300)
            .map(|_| {
                tokio::spawn(async move {
                    // Generous: a dropped SYN is retried after 1 s, 3 s, …; a queued
                    // connection completes at once.
                    tokio::time::timeout(
                        std::time::Duration::from_secs(10),
                        tokio::net::TcpStream::connect(addr),
                    )
                    .await
                })
            })
            .collect();
        let mut queued = 0;
        let mut held = Vec::new();
        for c in connects {
            if let Ok(Ok(s)) = c.await.unwrap() {
                queued += 1;
                held.push(s);
            }
        }
        assert_eq!(queued, 300, "connections beyond the backlog were dropped");
        drop(listener);
    }
}
