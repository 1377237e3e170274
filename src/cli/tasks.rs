//! Running a price list: `enqueue` (onto the queue, optionally waiting for its result),
//! `ingest` (the pipeline in this process) and `preview` (what a task would do, writing nothing).

use std::process::ExitCode;

use anyhow::{Context, bail};
use intake_actors::domain::{Origin, TaskMeta, TaskResult};
use intake_actors::pipeline::Outcome;

use intake::settings::{Secrets, Settings};
use intake::startup;

use super::{EnqueueArgs, IngestArgs, PreviewArgs, TASK_FAILED, connect_db, connect_queue};

pub(super) async fn enqueue(
    settings: &Settings,
    secrets: &Secrets,
    telemetry: &intake::telemetry::Telemetry,
    args: EnqueueArgs,
) -> anyhow::Result<ExitCode> {
    let mut message = args.source.message(
        &args.supplier,
        args.queue.max_retries.unwrap_or(settings.retry.max_retries),
    )?;
    message.expires_at = args
        .queue
        .expires_in
        .map(|d| message.enqueued_at + chrono::Duration::from_std(d).unwrap_or_default());
    // The producer's trace: given, or this command's own when traces are exported.
    let span = tracing::info_span!("enqueue", task_id = %message.task_id, supplier = %message.supplier_name);
    if let Some(traceparent) = &args.queue.traceparent {
        intake_actors::ports::TaskTracing::continue_trace(&intake::telemetry::TraceContext, &span, traceparent);
    }
    message.traceparent = match args.queue.traceparent {
        Some(given) if !telemetry.exporting() => Some(given),
        other => intake::telemetry::current_traceparent(&span).or(other),
    };
    let _entered = span.enter();
    message.validate().map_err(anyhow::Error::msg)?;
    let queue = connect_queue(settings, secrets).await?;
    queue.enqueue(&message).await.context("enqueueing the task")?;
    if args.queue.wait {
        // stdout carries the result alone, so `--wait | jq` works; the id goes beside it.
        eprintln!("task {} enqueued; waiting for its result", message.task_id);
        if queue.live_workers().await.unwrap_or(1) == 0 {
            eprintln!(
                "no worker is running: the task waits in the queue until one starts (`intake worker`); \
                 follow it later with `intake task show {}`",
                message.task_id
            );
        }
    } else {
        println!("{}", message.task_id);
    }
    if !args.queue.wait {
        return Ok(ExitCode::SUCCESS);
    }
    match queue.wait_result(message.task_id, args.queue.timeout).await? {
        Some(result) => Ok(print_result(&result)),
        None => bail!(
            "no result for task {id} within {}s; it may still be queued or running: follow it with `intake task show {id}`",
            args.queue.timeout.as_secs(),
            id = message.task_id,
        ),
    }
}

fn print_result(result: &TaskResult) -> ExitCode {
    match serde_json::to_string_pretty(result) {
        Ok(json) => println!("{json}"),
        Err(_) => println!("{result:?}"),
    }
    if result.status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(TASK_FAILED)
    }
}

pub(super) async fn ingest(settings: &Settings, secrets: &Secrets, args: IngestArgs) -> anyhow::Result<ExitCode> {
    let message = args.source.message(&args.supplier, 0)?;
    let pool = connect_db(settings, secrets).await?;
    let meta = TaskMeta::from_message(message, Origin::Operator);
    match startup::ingest_once(settings, pool, startup::decoders(), meta).await? {
        Outcome::Done(result) => Ok(print_result(&result)),
        Outcome::Failed(failure) => {
            eprintln!("error: the task failed ({}): {}", failure.class, failure.message);
            Ok(ExitCode::from(TASK_FAILED))
        }
        Outcome::Crashed => {
            eprintln!("error: the pipeline stopped while running the task");
            Ok(ExitCode::from(TASK_FAILED))
        }
    }
}

pub(super) async fn preview(settings: &Settings, args: PreviewArgs) -> anyhow::Result<ExitCode> {
    let message = args.source.message("preview", 0)?;
    let meta = TaskMeta::from_message(message, Origin::Operator);
    let sources = startup::sources(settings)?;
    match intake::preview::preview(
        sources,
        &startup::decoders(),
        settings.mapping_options(),
        &meta,
        args.rows,
    )
    .await
    {
        Ok(preview) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&preview)?);
            } else {
                print!("{}", preview.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            eprintln!("error: {}", failure.message);
            Ok(ExitCode::from(TASK_FAILED))
        }
    }
}
