//! Which function calls: the peer socket's owner in `/proc` (Linux), whose command name is
//! the function's binary.

use std::net::SocketAddr;

/// `/proc/net/tcp`'s spelling of an IPv4 address and port.
fn proc_address(addr: std::net::SocketAddrV4) -> String {
    format!(
        "{:08X}:{:04X}",
        u32::from_le_bytes(addr.ip().octets()),
        addr.port()
    )
}

/// The function binary on the other end of the loopback connection from `peer` to `local`,
/// from `/proc`. Both ends are matched: one local port may serve several connections to
/// different destinations.
pub fn peer_binary(peer: SocketAddr, local: SocketAddr) -> Option<String> {
    let (SocketAddr::V4(peer), SocketAddr::V4(local)) = (peer, local) else {
        return None;
    };
    let (from, to) = (proc_address(peer), proc_address(local));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let inode = table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&from.as_str()) && fields.get(2) == Some(&to.as_str()))
            .then(|| fields.get(9).map(|i| i.to_string()))
            .flatten()
    })?;
    let socket = format!("socket:[{inode}]");
    for process in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = process.file_name();
        if !pid.to_string_lossy().bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == socket.as_str()) {
                let comm = std::fs::read_to_string(process.path().join("comm")).ok()?;
                return Some(comm.trim().to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peer_of_a_loopback_connection_is_the_process_that_opened_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server, peer) = listener.accept().unwrap();
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(
            peer_binary(peer, listener.local_addr().unwrap()).as_deref(),
            Some(me.trim())
        );
        // Another destination from the same port is another connection.
        let elsewhere: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(peer_binary(peer, elsewhere), None);
        drop(client);
    }
}
