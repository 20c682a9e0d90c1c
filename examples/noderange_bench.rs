//! Times the expansion of a 100,000-name noderange against 100,000 defined nodes (release build),
//! printing the median in milliseconds. Usage: noderange_bench [NAMES] [RUNS]

use oxcat::noderange::{expand, Universe};
use std::collections::HashSet;
use std::time::Instant;

struct Nodes(HashSet<String>, Vec<String>);

impl Universe for Nodes {
    fn is_node(&self, name: &str) -> bool {
        self.0.contains(name)
    }
    fn group_members(&self, name: &str) -> Option<Vec<String>> {
        (name == "all").then(|| self.1.clone())
    }
    fn all_nodes(&self) -> Vec<String> {
        self.1.clone()
    }
    fn column_values(&self, _: &str) -> Result<Vec<(String, Option<String>)>, String> {
        Err("no columns here".into())
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let names: Vec<String> = (1..=n).map(|i| format!("node{i:06}")).collect();
    let u = Nodes(names.iter().cloned().collect(), names);
    let range = format!("node[000001-{n:06}]");
    let mut ms: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            let got = expand(&range, &u).expect("expands");
            assert_eq!(got.len(), n);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!("{:.1}", ms[ms.len() / 2]);
}
