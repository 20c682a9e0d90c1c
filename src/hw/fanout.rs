//! The fan-out engine: every node's BMC conversation runs as a task on one event loop (tokio,
//! single thread: the work is waiting on UDP and TCP, not computing), at most `fanout` at once, each with
//! its own per-request timeout and retries, so a dead BMC costs one timeout in parallel with the
//! rest. Results come back in the order of the input (natural node order), never completion order.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

pub struct Options {
    /// Most conversations in flight at once.
    pub fanout: usize,
    /// Staggered start (xCAT's syspowermaxnodes / syspowerinterval): batches of this many nodes,
    /// this far apart.
    pub stagger: Option<(usize, Duration)>,
    /// Show a progress bar on stderr (the caller checks it is a terminal).
    pub progress: bool,
}

/// Runs `work` for every (node, input); returns each node's result in input order. The error
/// type is the protocol's (IpmiError) or the hardware layer's (HwError).
pub fn run<I, T, E, F, Fut>(items: Vec<(String, I)>, opts: &Options, work: F) -> Vec<(String, Result<T, E>)>
where
    I: Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
    F: Fn(I) -> Fut,
    Fut: Future<Output = Result<T, E>> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let n = items.len();
    let bar = opts.progress.then(|| {
        let b = ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr());
        b.set_style(ProgressStyle::with_template("{bar:40} {pos}/{len} BMCs {elapsed}").expect("valid template"));
        b
    });
    let sem = Arc::new(Semaphore::new(opts.fanout.max(1)));
    let nodes: Vec<String> = items.iter().map(|(n, _)| n.clone()).collect();
    let results: Vec<Option<Result<T, E>>> = rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, (_, input)) in items.into_iter().enumerate() {
            let sem = sem.clone();
            let delay = opts.stagger.map(|(batch, gap)| gap * (i / batch.max(1)) as u32);
            let fut = work(input);
            set.spawn(async move {
                if let Some(d) = delay.filter(|d| !d.is_zero()) {
                    tokio::time::sleep(d).await;
                }
                let _permit = sem.acquire_owned().await.expect("the semaphore is never closed");
                (i, fut.await)
            });
        }
        let mut results: Vec<Option<Result<T, E>>> = (0..n).map(|_| None).collect();
        while let Some(done) = set.join_next().await {
            let (i, r) = done.expect("node tasks do not panic");
            results[i] = Some(r);
            if let Some(b) = &bar {
                b.inc(1);
            }
        }
        results
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    nodes.into_iter().zip(results).map(|(n, r)| (n, r.expect("every task reported"))).collect()
}
