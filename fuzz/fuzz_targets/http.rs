//! One HTTP connection's input, as bytes from the network: fed through an in-memory pipe to the
//! function that serves each of oxcatd's connections (hyper's parser and oxcatd's handlers), with
//! a store that has a node at the client's address, a file to serve and a token to guess.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oxcat::daemon::{config::HttpLimits, http, log::Log, scope::Seen};
use std::sync::{Arc, LazyLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct World {
    rt: tokio::runtime::Runtime,
    shared: Arc<http::Shared>,
    limits: HttpLimits,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("oxcat-fuzz-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tftp/ipxe")).unwrap();
    std::fs::create_dir_all(dir.join("install/images")).unwrap();
    std::fs::write(dir.join("install/images/kernel"), vec![7u8; 100_000]).unwrap();
    std::fs::write(dir.join("tftp/undionly.kpxe"), b"boot program").unwrap();
    let mut store = oxcat::store::Store::open(&dir.join("oxcat.db")).unwrap();
    let sql = format!(
        "INSERT OR REPLACE INTO site (key, value) VALUES ('master', '127.0.0.1'), ('tftpdir', '{0}/tftp'), ('installdir', '{0}/install');
         INSERT INTO nodelist (node, groups) VALUES ('n1', 'all');
         INSERT INTO hosts (node, ip) VALUES ('n1', '127.0.0.1');
         INSERT INTO mac (node, mac) VALUES ('n1', '52:54:00:00:00:01');
         INSERT INTO chain (node, currstate, token) VALUES ('n1', 'boot', 'tok');",
        dir.display()
    );
    store
        .write(|c| {
            c.execute_batch(&sql)?;
            Ok(())
        })
        .unwrap();
    let shared = http::Shared::new(store, dir.join("postscripts"), Log::start(false), Arc::new(Seen::default())).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    World { rt, shared: Arc::new(shared), limits: HttpLimits::default() }
});

fuzz_target!(|data: &[u8]| {
    let w = &*WORLD;
    w.rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(64 * 1024);
        let peer = "127.0.0.1:40000".parse().unwrap();
        let serve = http::serve(server, peer, w.shared.clone(), &w.limits, Arc::default());
        let talk = async {
            let _ = client.write_all(data).await;
            let _ = client.shutdown().await;
            let mut sink = Vec::new();
            let _ = client.read_to_end(&mut sink).await;
        };
        tokio::join!(serve, talk);
    });
});
