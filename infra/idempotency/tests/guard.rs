//! The guard's semantics over the in-memory store.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use shopsphere_events::ErrorClass;
use shopsphere_idempotency::*;
use shopsphere_runtime::Deadline;

struct ManualClock(AtomicI64);

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

const T0: i64 = 1_800_000_000_000;

fn guard() -> (Idempotency<InMemoryStore>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let config =
        IdempotencyConfig { record_ttl: Duration::from_secs(3600), in_progress_fallback: Duration::from_secs(30) };
    (Idempotency::with_config(InMemoryStore::new(), config, clock.clone()), clock)
}

/// Why a guarded run did not return a result.
#[derive(Debug)]
enum Failure {
    Guard(IdempotencyError),
    Work(&'static str),
}

type Res = Result<u32, Failure>;

/// The way order-api uses the guard: begin, work, complete (or release on failure).
async fn run_once<F, Fut>(g: &Idempotency<InMemoryStore>, key: &str, payload: &str, work: F) -> Res
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<u32, &'static str>>,
{
    match g.begin(key, payload, Deadline::default()).await.map_err(Failure::Guard)? {
        Begin::Done(saved) => Ok(saved),
        Begin::Run(ticket) => match work().await {
            Ok(output) => {
                g.complete(&ticket, &output).await.map_err(Failure::Guard)?;
                Ok(output)
            }
            Err(e) => {
                g.release(&ticket).await;
                Err(Failure::Work(e))
            }
        },
    }
}

#[tokio::test]
async fn first_call_runs_and_saves_repeat_returns_saved_result() {
    let (g, _) = guard();
    let runs = AtomicUsize::new(0);
    let work = || async {
        runs.fetch_add(1, Ordering::SeqCst);
        Ok::<_, &str>(42u32)
    };
    let first: Res = run_once(&g, "fn#e1", "payload", work).await;
    assert_eq!(first.unwrap(), 42);
    let record = g.store().get("fn#e1").unwrap();
    assert_eq!(record.status, Status::Completed);
    assert_eq!(record.data.as_deref(), Some("42"));
    assert_eq!(record.expiration, T0 / 1000 + 3600);
    assert_eq!(record.validation, payload_hash("payload").unwrap());

    let repeat: Res = run_once(&g, "fn#e1", "payload", || async { Ok::<_, &str>(7u32) }).await;
    assert_eq!(repeat.unwrap(), 42, "saved result, not a second run");
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn concurrent_repeat_is_told_to_retry() {
    let (g, _) = guard();
    let ticket = match g.begin::<_, u32>("fn#e1", "p", Deadline::default()).await.unwrap() {
        Begin::Run(t) => t,
        Begin::Done(_) => panic!("fresh key"),
    };
    let second: Res = run_once(&g, "fn#e1", "p", || async { Ok(1) }).await;
    let Err(Failure::Guard(err)) = second else { panic!("{second:?}") };
    assert!(matches!(err, IdempotencyError::AlreadyInProgress { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Transient);
    g.complete(&ticket, &5u32).await.unwrap();
    let third: Res = run_once(&g, "fn#e1", "p", || async { Ok(1) }).await;
    assert_eq!(third.unwrap(), 5);
}

#[tokio::test]
async fn two_concurrent_calls_run_the_work_once() {
    let (g, _) = guard();
    let runs = AtomicUsize::new(0);
    let call = || {
        run_once(&g, "fn#e1", "p", || async {
            runs.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, &str>(1u32)
        })
    };
    let (a, b): (Res, Res) = tokio::join!(call(), call());
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    let outcomes = [a, b];
    assert_eq!(outcomes.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(outcomes.iter().any(|r| matches!(r, Err(Failure::Guard(IdempotencyError::AlreadyInProgress { .. })))));
}

#[tokio::test]
async fn same_key_with_another_payload_is_a_permanent_mismatch() {
    let (g, _) = guard();
    let _: Res = run_once(&g, "fn#e1", "one", || async { Ok(1) }).await;
    let Err(Failure::Guard(err)) = run_once(&g, "fn#e1", "two", || async { Ok(2) }).await else { panic!() };
    assert!(matches!(err, IdempotencyError::PayloadMismatch { .. }), "{err}");
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[tokio::test]
async fn failed_work_releases_the_key_for_a_retry() {
    let (g, _) = guard();
    let failed: Res = run_once(&g, "fn#e1", "p", || async { Err("boom") }).await;
    assert!(matches!(failed, Err(Failure::Work("boom"))));
    assert!(g.store().get("fn#e1").is_none());
    let retried: Res = run_once(&g, "fn#e1", "p", || async { Ok(3) }).await;
    assert_eq!(retried.unwrap(), 3);
}

#[tokio::test]
async fn in_progress_expiry_comes_from_the_deadline_and_lets_a_retry_take_over() {
    let (g, clock) = guard();
    // A crashed holder: its record stays INPROGRESS until its deadline.
    let deadline = Deadline(Some(T0 + 5_000));
    let Begin::Run(crashed) = g.begin::<_, u32>("fn#e1", "p", deadline).await.unwrap() else { panic!() };
    assert_eq!(crashed.owner_token, T0 + 5_000);
    assert_eq!(g.store().get("fn#e1").unwrap().in_progress_expiration, Some(T0 + 5_000));

    clock.0.store(T0 + 5_000, Ordering::SeqCst);
    let still_held: Res = run_once(&g, "fn#e1", "p", || async { Ok(1) }).await;
    assert!(matches!(still_held, Err(Failure::Guard(IdempotencyError::AlreadyInProgress { .. }))));

    clock.0.store(T0 + 5_001, Ordering::SeqCst);
    let taken_over: Res = run_once(&g, "fn#e1", "p", || async { Ok(9) }).await;
    assert_eq!(taken_over.unwrap(), 9);
    // The crashed holder can no longer complete over the new result.
    let late = g.complete(&crashed, &1u32).await.unwrap_err();
    assert!(matches!(late, IdempotencyError::Store(StoreError::OwnershipLost { .. })));
    assert_eq!(g.store().get("fn#e1").unwrap().data.as_deref(), Some("9"));
}

#[tokio::test]
async fn without_a_deadline_the_fallback_window_applies() {
    let (g, _) = guard();
    let Begin::Run(t) = g.begin::<_, u32>("fn#e1", "p", Deadline::default()).await.unwrap() else { panic!() };
    assert_eq!(t.owner_token, T0 + 30_000);
}

#[tokio::test]
async fn expired_completed_record_runs_the_work_again() {
    let (g, clock) = guard();
    let _: Res = run_once(&g, "fn#e1", "p", || async { Ok(1) }).await;
    clock.0.store(T0 + 3_601_000, Ordering::SeqCst);
    let again: Res = run_once(&g, "fn#e1", "p", || async { Ok(2) }).await;
    assert_eq!(again.unwrap(), 2);
}

#[tokio::test]
async fn a_stale_record_inserted_by_a_crash_is_taken_over() {
    let (g, _) = guard();
    g.store().insert(IdempotencyRecord {
        key: "fn#e1".into(),
        status: Status::InProgress,
        expiration: T0 / 1000 + 100,
        in_progress_expiration: Some(T0 - 1),
        data: None,
        validation: payload_hash("p").unwrap(),
    });
    let r: Res = run_once(&g, "fn#e1", "p", || async { Ok(4) }).await;
    assert_eq!(r.unwrap(), 4);
}
