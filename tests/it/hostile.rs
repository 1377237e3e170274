//! Bad files are data, not crashes: a queue full of them fails each one alone while good
//! tasks complete, and the worker stays up without a single actor restart. Concurrent tasks
//! keep their log lines apart.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Duration;

use intake_actors::domain::{TaskMessage, TaskStatus};

use crate::helpers::{TestEnv, price_list};
use crate::workbook::{SheetSpec, X, write};

const WAIT: Duration = Duration::from_secs(90);

/// Deterministic noise (xorshift), so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Twenty files a careless or hostile producer might send, each with the parser it claims.
fn hostile_files(env: &TestEnv) -> Vec<(&'static str, std::path::PathBuf)> {
    let dir = &env.dir.0;
    let mut files = Vec::new();
    let mut put = |name: &str, parser: &'static str, bytes: Vec<u8>| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        files.push((parser, path));
    };
    for seed in 1..=4 {
        put(&format!("noise-{seed}.csv"), "csv", noise(seed, 64 * 1024));
    }
    let mut elf = b"\x7fELF\x02\x01\x01\0".to_vec();
    elf.extend(noise(9, 200_000));
    put("program.csv", "csv", elf);
    put("empty.csv", "csv", Vec::new());
    put("ff.csv", "csv", vec![0xff; 10_000]);
    put("delimiters.csv", "csv", ";;;;\n".repeat(1000).into_bytes());
    put("utf16-noise.csv", "csv", [vec![0xff, 0xfe], noise(11, 5000)].concat());
    for seed in 20..=22 {
        put(&format!("noise-{seed}.xlsx"), "xlsx", noise(seed, 32 * 1024));
    }
    put("empty.xlsx", "xlsx", Vec::new());
    put("text.xlsx", "xlsx", b"SKU,Name,Price\nA,Hammer,1\n".to_vec());
    put(
        "png.xlsx",
        "xlsx",
        [b"\x89PNG\r\n\x1a\n".to_vec(), noise(30, 4000)].concat(),
    );
    let workbook = dir.join("whole.xlsx");
    let mut rows = vec![vec![X::Text("SKU"), X::Text("Name"), X::Text("Price")]];
    rows.extend((0..200).map(|i| vec![X::Num(f64::from(i)), X::Text("Item"), X::Num(f64::from(i) + 0.5)]));
    write(
        &workbook,
        &[SheetSpec {
            name: "Prices",
            rows,
            merged: Vec::new(),
        }],
    );
    let whole = std::fs::read(&workbook).unwrap();
    for (n, cut) in [0.2, 0.5, 0.8, 0.97].into_iter().enumerate() {
        put(
            &format!("truncated-{n}.xlsx"),
            "xlsx",
            whole[..(whole.len() as f64 * cut) as usize].to_vec(),
        );
    }
    let mut flipped = whole.clone();
    for i in (100..flipped.len()).step_by(97) {
        flipped[i] ^= 0x5a;
    }
    put("flipped.xlsx", "xlsx", flipped);
    files
}

#[tokio::test]
async fn a_queue_of_hostile_files_fails_each_alone_and_the_worker_stays_up() {
    let env = TestEnv::new().await;
    let mut worker = env.spawn_worker_process(&[]);
    let hostile: Vec<TaskMessage> = hostile_files(&env)
        .into_iter()
        .map(|(parser, path)| env.message("Hostile", parser, &path))
        .collect();
    assert_eq!(hostile.len(), 20);
    let good: Vec<TaskMessage> = (0..5)
        .map(|i| {
            env.message(
                &format!("Good {i}"),
                "csv",
                &env.csv(&format!("good-{i}.csv"), "SKU,Name,Price\nA,Hammer,1\n"),
            )
        })
        .collect();
    for (i, m) in hostile.iter().enumerate() {
        env.enqueue(m).await;
        if i % 4 == 0 {
            env.enqueue(&good[i / 4]).await;
        }
    }
    for m in &good {
        let r = env.result_or_log(m.task_id, WAIT, || worker.log()).await;
        assert_eq!(r.status, TaskStatus::Completed, "{r:?}");
    }
    for m in &hostile {
        let r = env.result_or_log(m.task_id, WAIT, || worker.log()).await;
        assert_eq!(r.attempt, 1, "a bad file is not worth a retry: {r:?}");
        assert!(
            matches!(r.status, TaskStatus::DeadLettered | TaskStatus::Completed),
            "{r:?}"
        );
        if r.status == TaskStatus::DeadLettered {
            assert!(!r.error.as_deref().unwrap_or_default().is_empty(), "a reason: {r:?}");
        }
    }
    assert!(
        worker.child.try_wait().unwrap().is_none(),
        "the worker is still running"
    );
    let log = worker.log();
    assert!(!log.contains("restarting actor"), "no actor restarted:\n{log}");
    assert!(!log.contains("panicked"), "no decoder panicked:\n{log}");
}

#[tokio::test]
async fn concurrent_tasks_never_lend_each_other_their_ids_in_the_log() {
    let env = TestEnv::with(&[
        ("INTAKE__WORKER__TASKS_IN_FLIGHT", "4"),
        ("INTAKE__PIPELINE__WRITERS", "4"),
    ])
    .await;
    let worker = env.spawn_worker_process(&[
        ("INTAKE__PIPELINE__PARSERS__CSV", "4"),
        ("INTAKE__PIPELINE__CHUNK_ROWS", "500"),
    ]);
    let tasks: Vec<TaskMessage> = (0..8)
        .map(|i| {
            let list = price_list(5_000, |r| {
                (format!("S{i}-{r}"), format!("Item {r}"), format!("{r}.{i}"))
            });
            env.message(&format!("Supplier {i}"), "csv", &env.csv(&format!("l{i}.csv"), &list))
        })
        .collect();
    for m in &tasks {
        env.enqueue(m).await;
    }
    for m in &tasks {
        assert_eq!(env.result(m.task_id, WAIT).await.status, TaskStatus::Completed);
    }
    let log = worker.log();
    let mut checked = 0;
    for line in log.lines() {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let mut ids = BTreeSet::new();
        collect_task_ids(&value, &mut ids);
        assert!(ids.len() <= 1, "a line names two tasks: {line}");
        checked += usize::from(ids.len() == 1);
    }
    assert!(checked >= 8 * 3, "lines inside tasks were checked: {checked}");
    let _ = std::io::stderr().flush();
}

/// Every `task_id` anywhere in a JSON log line (its fields and its spans).
fn collect_task_ids(value: &serde_json::Value, ids: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                if key == "task_id" {
                    if let Some(id) = v.as_str() {
                        ids.insert(id.to_owned());
                    }
                } else {
                    collect_task_ids(v, ids);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_task_ids(v, ids)),
        _ => {}
    }
}
