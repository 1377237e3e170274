//! How long the task of a killed worker waits before another worker runs it again. A worker
//! that stops beating loses its tasks after `queue.heartbeat_ttl_ms` plus one check, whatever
//! the visibility timeout (60 s by default).

use std::time::{Duration, Instant};

use anyhow::bail;

use super::{Env, generate, message};

/// Seconds from each SIGKILL to the takeover, sorted.
pub async fn takeover(env: &Env, runs: usize) -> anyhow::Result<Vec<f64>> {
    let list = env.dir.join("takeover.csv");
    generate::write_csv(&list, 50_000, 0)?;
    let mut seconds = Vec::with_capacity(runs);
    for run in 0..runs {
        env.fresh_database().await?;
        let queue = env.queue().await?;
        // Slow enough that the task is still running when its worker dies.
        let mut doomed = env.worker_with(
            &format!("doomed-{run}"),
            &[("INTAKE__DATABASE__MAX_ROWS_PER_SECOND", "5000")],
        )?;
        let task = message("Takeover", "csv", &list, true)?;
        queue.enqueue(&task).await?;
        wait_for(|| doomed.log_text().contains("task received"), "the task to start")?;
        let heir = env.worker(&format!("heir-{run}"))?;
        doomed.child.kill()?;
        let killed = Instant::now();
        let _ = doomed.child.wait();
        wait_for(|| heir.log_text().contains("took over a task"), "the takeover")?;
        seconds.push(killed.elapsed().as_secs_f64());
    }
    seconds.sort_by(f64::total_cmp);
    Ok(seconds)
}

fn wait_for(mut done: impl FnMut() -> bool, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
