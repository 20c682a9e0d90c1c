//! What keeping oxcatd's DHCP index current costs per store change, with NODES nodes defined
//! (release build): a full build (what every change cost before the change journal) against a
//! refresh after one node's row changed, medians of RUNS, and the ratio.
//! Usage: dhcp_index_bench [NODES] [RUNS]

use oxcat::daemon::dhcp::{Index, Refresh};
use oxcat::store::Store;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(21);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("bench.db");
    // Changes come from another connection, as from nodeset or chdef in another process.
    let (reader, mut writer) = (Store::open(&db).expect("store"), Store::open(&db).expect("store"));
    writer
        .write(|c| {
            for i in 0..n {
                let node = format!("n{i:05}");
                c.execute("INSERT INTO nodelist (node, groups) VALUES (?1, 'compute,all')", [&node])?;
                let mac = format!("52:54:00:{:02x}:{:02x}:{:02x}", i >> 16, (i >> 8) & 255, i & 255);
                c.execute("INSERT INTO mac (node, mac) VALUES (?1, ?2)", [&node, &mac])?;
                let ip = format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256);
                c.execute("INSERT INTO hosts (node, ip) VALUES (?1, ?2)", [&node, &ip])?;
            }
            c.execute("INSERT INTO networks (netname, net, mask) VALUES ('lab', '10.0.0.0', '255.0.0.0')", [])?;
            Ok(())
        })
        .expect("nodes written");
    let server = Some("10.0.0.1".parse().unwrap());
    let mut index = Index::build(reader.conn(), server).expect("index");
    let (mut builds, mut refreshes) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let t = Instant::now();
        Index::build(reader.conn(), server).expect("index");
        builds.push(t.elapsed());
        let node = format!("n{:05}", (i * 7919) % n);
        writer
            .write(|c| Ok(c.execute("UPDATE hosts SET comments = ?2 WHERE node = ?1", [&node, &i.to_string()])?))
            .expect("change written");
        let t = Instant::now();
        let r = index.refresh(reader.conn()).expect("refresh");
        refreshes.push(t.elapsed());
        assert_eq!(r, Refresh::Nodes(1));
    }
    let (b, r) = (median(builds), median(refreshes));
    println!(
        "{n} nodes: full build {:.2} ms, refresh after one node changed {:.3} ms: {:.0}x (medians of {runs})",
        b.as_secs_f64() * 1e3,
        r.as_secs_f64() * 1e3,
        b.as_secs_f64() / r.as_secs_f64()
    );
}
