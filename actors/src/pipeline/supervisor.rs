//! The root of the actor tree: starts the children, restarts one that fails, and gives up —
//! stopping itself and so the pipeline — when failures come too often.
//!
//! ractor has no restart strategy of its own and its default stops the supervisor when any
//! child stops, so the policy is here: one-for-one restarts, at most `max_restarts` within
//! `window`, the way OTP supervisors bound restart intensity.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent};

type StartFuture = Pin<Box<dyn Future<Output = Result<ActorCell, SpawnErr>> + Send>>;

/// How to (re)start one child under a given supervisor.
#[derive(Clone)]
pub struct ChildSpec {
    pub name: String,
    start: Arc<dyn Fn(ActorCell) -> StartFuture + Send + Sync>,
}

impl ChildSpec {
    /// A child made of an actor and the arguments it is started with, both kept for restarts.
    pub fn new<A>(name: String, actor: A, args: A::Arguments) -> Self
    where
        A: Actor + Clone,
        A::Arguments: Clone + Sync,
    {
        let spawn_name = name.clone();
        Self {
            name,
            start: Arc::new(move |supervisor| {
                let (actor, args, name) = (actor.clone(), args.clone(), spawn_name.clone());
                Box::pin(async move {
                    let (actor_ref, _) = A::spawn_linked(Some(name), actor, args, supervisor).await?;
                    Ok(actor_ref.get_cell())
                })
            }),
        }
    }
}

/// The restart intensity a supervisor tolerates.
#[derive(Debug, Clone, Copy)]
pub struct RestartBudget {
    pub max_restarts: usize,
    pub window: Duration,
}

#[derive(Clone, Copy, Default)]
pub struct Supervisor;

#[derive(Clone)]
pub struct SupervisorArgs {
    /// Started in this order, stopped in the reverse order.
    pub children: Vec<ChildSpec>,
    pub budget: RestartBudget,
}

pub enum SupervisorMsg {
    /// Stops the children, last started first, then the supervisor itself.
    Shutdown { timeout: Duration, reply: RpcReplyPort<()> },
}

pub struct SupervisorState {
    children: Vec<(ChildSpec, ActorCell)>,
    budget: RestartBudget,
    recent: VecDeque<Instant>,
    stopping: bool,
}

impl Actor for Supervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SupervisorArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Present at 0 from the start, so a dashboard shows no restarts rather than no data.
        metrics::gauge!("intake_actor_restarts").increment(0.0);
        let mut children = Vec::with_capacity(args.children.len());
        for spec in args.children {
            let cell = (spec.start)(myself.get_cell()).await?;
            children.push((spec, cell));
        }
        Ok(SupervisorState {
            children,
            budget: args.budget,
            recent: VecDeque::new(),
            stopping: false,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SupervisorMsg::Shutdown { timeout, reply } => {
                state.stopping = true;
                for (spec, cell) in state.children.iter().rev() {
                    if let Err(e) = cell.stop_and_wait(None, Some(timeout)).await {
                        tracing::warn!(actor = %spec.name, error = %e, "actor did not stop in time");
                    }
                }
                let _ = reply.send(());
                myself.stop(None);
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, cause) = match &event {
            SupervisionEvent::ActorFailed(cell, err) => (cell.clone(), format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell.clone(),
                format!("stopped: {}", reason.as_deref().unwrap_or("no reason given")),
            ),
            _ => return Ok(()),
        };
        if state.stopping {
            return Ok(());
        }
        let Some(slot) = state.children.iter().position(|(_, c)| c.get_id() == cell.get_id()) else {
            return Ok(());
        };
        let name = state.children[slot].0.name.clone();

        let now = Instant::now();
        while state
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > state.budget.window)
        {
            state.recent.pop_front();
        }
        if state.recent.len() >= state.budget.max_restarts {
            tracing::error!(
                actor = %name,
                cause = %cause,
                restarts = state.recent.len(),
                window_ms = state.budget.window.as_millis() as u64,
                "restart budget exhausted; stopping the pipeline"
            );
            state.stopping = true;
            myself.stop(Some(format!("restart budget exhausted by {name}: {cause}")));
            return Ok(());
        }
        state.recent.push_back(now);
        metrics::gauge!("intake_actor_restarts").increment(1.0);
        metrics::counter!("intake_actor_restarts_total", "actor" => actor_kind(&name)).increment(1);
        tracing::warn!(actor = %name, cause = %cause, "restarting actor");
        let cell = (state.children[slot].0.start)(myself.get_cell()).await?;
        state.children[slot].1 = cell;
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<Self::Msg>, state: &mut Self::State) -> Result<(), ActorProcessingErr> {
        // Children are not stopped with their supervisor by ractor; an escalation must not
        // leave them running.
        state.stopping = true;
        for (_, cell) in state.children.iter().rev() {
            cell.stop(Some("supervisor stopped".into()));
        }
        Ok(())
    }
}

/// An actor's kind from its name (`1a2b/parser/csv/0` → `parser`), a label of few values.
fn actor_kind(name: &str) -> String {
    name.split('/').nth(1).unwrap_or(name).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Panics on demand; counts its starts.
    #[derive(Clone)]
    struct Fragile(Arc<std::sync::atomic::AtomicUsize>);

    impl Actor for Fragile {
        type Msg = ();
        type State = ();
        type Arguments = ();

        async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        }

        async fn handle(&self, _: ActorRef<()>, _: (), _: &mut ()) -> Result<(), ActorProcessingErr> {
            panic!("poison");
        }
    }

    async fn wait_for(name: &str, starts: &std::sync::atomic::AtomicUsize, n: usize) -> ActorRef<()> {
        for _ in 0..500 {
            if starts.load(std::sync::atomic::Ordering::SeqCst) >= n
                && let Some(cell) = ractor::registry::where_is(name)
            {
                return cell.into();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{name} did not start {n} times");
    }

    #[tokio::test]
    async fn failed_child_is_restarted_until_the_budget_runs_out() {
        let starts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let name = format!("fragile-{}", uuid::Uuid::new_v4());
        let args = SupervisorArgs {
            children: vec![ChildSpec::new(name.clone(), Fragile(starts.clone()), ())],
            budget: RestartBudget {
                max_restarts: 2,
                window: Duration::from_secs(60),
            },
        };
        let (sup, handle) = Actor::spawn(None, Supervisor, args).await.unwrap();

        for n in 1..=3 {
            let child = wait_for(&name, &starts, n).await;
            child.send_message(()).unwrap();
        }
        // The third failure exceeds two restarts: the supervisor escalates by stopping.
        tokio::time::timeout(Duration::from_secs(10), handle)
            .await
            .expect("supervisor must stop once its budget is spent")
            .unwrap();
        assert_eq!(starts.load(std::sync::atomic::Ordering::SeqCst), 3);
        assert_eq!(sup.get_status(), ractor::ActorStatus::Stopped);
    }
}
