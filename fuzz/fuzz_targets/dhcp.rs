//! The bytes of a received DHCP packet through `Server::handle`, the function oxcatd's DHCP
//! loop runs on every packet: header checks, decoding, the MAC index, discovery leases (with
//! their store writes) and the answer. The first byte picks the server (DHCP or proxyDHCP) and
//! the sender's port; a store with one node and a discovery range is made once, in a directory of
//! its own under the temp dir (OXCAT_FUZZ_DIR to choose another).
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxcat::daemon::dhcp::{Leases, Server};
use oxcat::store::Store;
use std::sync::{Arc, Mutex, OnceLock};

struct Servers {
    dhcp: Mutex<Server>,
    proxy: Mutex<Server>,
}

fn servers() -> &'static Servers {
    static S: OnceLock<Servers> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::var_os("OXCAT_FUZZ_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join(format!("oxcat-fuzz-dhcp-{}", std::process::id())));
        std::fs::create_dir_all(&dir).expect("fuzz dir");
        let db = dir.join("fuzz.db");
        let mut st = Store::open(&db).expect("store");
        st.write(|c| {
            c.execute_batch(
                "DELETE FROM dhcplease;
                 INSERT OR REPLACE INTO networks (netname, net, mask, gateway, dynamicrange) VALUES ('lab', '10.0.0.0', '255.255.255.0', '10.0.0.254', '10.0.0.100-10.0.0.200');
                 INSERT OR REPLACE INTO nodelist (node, groups) VALUES ('n1', 'all');
                 INSERT OR REPLACE INTO mac (node, mac) VALUES ('n1', '52:54:00:00:00:01');
                 INSERT OR REPLACE INTO hosts (node, ip) VALUES ('n1', '10.0.0.11');
                 INSERT OR REPLACE INTO site (key, value) VALUES ('master', '10.0.0.1');",
            )?;
            Ok(())
        })
        .expect("store set-up");
        let leases = Leases::shared();
        let server = |proxy| {
            let st = Arc::new(Mutex::new(Store::open(&db).expect("store")));
            Mutex::new(Server::new(st, leases.clone(), None, proxy).expect("server"))
        };
        Servers { dhcp: server(false), proxy: server(true) }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, packet)) = data.split_first() else { return };
    let s = servers();
    let server = if pick & 1 == 0 { &s.dhcp } else { &s.proxy };
    let port = if pick & 2 == 0 { 68 } else { 4011 };
    let from = std::net::SocketAddr::from(([10, 0, 0, 50], port));
    let _ = server.lock().unwrap().handle(packet, from);
});
