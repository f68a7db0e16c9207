//! A function as Lambda runs it: execution environments (here processes of
//! its real binary, each behind its own Runtime API) started on demand, each
//! handling one invocation at a time and kept warm between invocations.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::body::Bytes;
use serde::Serialize;
use tokio::process::{Child, Command};
use tokio::sync::watch;

use crate::runtime_api::{InvokeError, Outcome, RuntimeApi};
use crate::stack::{FunctionSpec, Stack};
use crate::tap::{CrashPoint, Crashes, Tap};

pub const ACCOUNT: &str = "000000000000";

/// Lambda's limit on a function's init phase.
const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the host runs against: the emulator and its region.
#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: String,
    pub region: String,
    /// Each instance reaches `endpoint` through a tap that can crash it at a
    /// step boundary (tap.rs).
    pub crash_points: bool,
}

/// Why an invocation produced no answer. Lambda counts each as a function
/// error: the event source retries the whole batch.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    #[error("the process exited ({status}) before answering; init error: {init_error}")]
    Exited { status: String, init_error: String },
    #[error("the process was crashed on purpose (fault injection) after it answered")]
    Crashed,
    #[error("cannot start the function: {0:#}")]
    Start(anyhow::Error),
}

/// Whether the event sources feed the function, and how many instances may
/// run at once (`None`: each source's own maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Switch {
    pub running: bool,
    pub concurrency: Option<usize>,
}

/// One execution environment. The child is declared first so it is killed
/// before its Runtime API goes away (fields drop in order).
struct Instance {
    child: Child,
    api: RuntimeApi,
    /// Between the process and AWS, with `--crash-points`.
    _tap: Option<Tap>,
    pid: u32,
    /// From exec to the first `next` request (Lambda's Init Duration),
    /// until the first invocation reports it.
    init: Option<Duration>,
}

/// What one instance did, for the control interface.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InstanceStats {
    pub invocations: u64,
    pub records: u64,
    pub alive: bool,
}

pub struct Function {
    pub spec: FunctionSpec,
    /// The deployed name (`<stack>-<binary>`).
    pub name: String,
    binary: PathBuf,
    environment: Vec<(String, String)>,
    log_file: Option<PathBuf>,
    idle: Mutex<Vec<Instance>>,
    instances: Mutex<BTreeMap<u32, InstanceStats>>,
    /// Where instances reach AWS: through a tap each when crash points are on.
    endpoint: String,
    crash_points: bool,
    pub crashes: Arc<Crashes>,
    pub invocations: AtomicU64,
    pub errors: AtomicU64,
    /// Invocation time as Lambda bills it: each invocation rounded up to 1 ms.
    pub billed_ms: AtomicU64,
    switch: watch::Sender<Switch>,
}

impl Function {
    /// The function of `spec`, its environment resolved against `stack`; no
    /// process is started yet.
    pub fn new(
        spec: &FunctionSpec,
        stack: &Stack,
        target: &Target,
        bin_dir: &Path,
        log_dir: Option<&Path>,
    ) -> anyhow::Result<Function> {
        let name = format!("{}-{}", stack.name, spec.binary);
        let region = target.region.as_str();
        let mut environment: Vec<(String, String)> = [
            ("AWS_LAMBDA_FUNCTION_NAME", name.as_str()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023"),
            ("_HANDLER", "bootstrap"),
            ("TZ", ":UTC"),
            ("AWS_REGION", region),
            ("AWS_DEFAULT_REGION", region),
            ("AWS_ENDPOINT_URL", &target.endpoint),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        environment.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), spec.memory_mb.to_string()));
        environment.push(("AWS_LAMBDA_LOG_GROUP_NAME".into(), format!("/aws/lambda/{name}")));
        environment.push(("PATH".into(), std::env::var("PATH").unwrap_or_default()));
        environment.extend(spec.resolved_environment(stack)?);
        let binary = bin_dir.join(&spec.binary);
        anyhow::ensure!(binary.is_file(), "{} is missing: build it with `cargo build --release`", binary.display());
        let log_file = log_dir.map(|d| d.join(format!("{}.log", spec.logical_id)));
        if let Some(path) = &log_file {
            // One log per host run: its instances append, a new run starts afresh.
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        }
        Ok(Function {
            spec: spec.clone(),
            name,
            binary,
            environment,
            log_file,
            idle: Mutex::default(),
            instances: Mutex::default(),
            endpoint: target.endpoint.clone(),
            crash_points: target.crash_points,
            crashes: Arc::default(),
            invocations: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            billed_ms: AtomicU64::new(0),
            switch: watch::Sender::new(Switch { running: true, concurrency: None }),
        })
    }

    pub fn arn(&self, region: &str) -> String {
        format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{}", self.name)
    }

    async fn start_instance(&self, region: &str) -> anyhow::Result<Instance> {
        let api = RuntimeApi::start(self.arn(region)).await.context("starting the Runtime API")?;
        let (stdout, stderr) = match &self.log_file {
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                (Stdio::from(file.try_clone()?), Stdio::from(file))
            }
            // Logs go to stderr so stdout stays the host's own output.
            None => (Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?), Stdio::inherit()),
        };
        let tap = match self.crash_points {
            true => Some(Tap::start(&self.endpoint, self.crashes.clone(), self.env("PROVIDERS_TABLE")).await?),
            false => None,
        };
        let mut command = Command::new(&self.binary);
        command
            .env_clear()
            .envs(self.environment.iter().map(|(k, v)| (k, v)))
            .env("AWS_ENDPOINT_URL", tap.as_ref().map_or(&self.endpoint, |t| &t.url))
            .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/[$LATEST]{}", uuid::Uuid::new_v4().simple()))
            .stdout(stdout)
            .stderr(stderr)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        die_with_parent(&mut command);
        let exec = Instant::now();
        let mut child = command.spawn().with_context(|| format!("starting {}", self.binary.display()))?;
        let pid = child.id().context("the process has no PID")?;
        if let Some(tap) = &tap {
            tap.pid.store(pid, Ordering::SeqCst);
        }
        // Init has its own limit and does not count against the invocation's
        // timeout, as in Lambda.
        tokio::select! {
            _ = api.initialized() => {}
            status = child.wait() => anyhow::bail!(
                "{} exited during init ({}): {}",
                self.spec.logical_id,
                status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                api.init_error().unwrap_or_else(|| "see its log".into())
            ),
            _ = tokio::time::sleep(INIT_TIMEOUT) => {
                anyhow::bail!("{} did not finish init in {INIT_TIMEOUT:?}", self.spec.logical_id)
            }
        }
        self.instances
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pid, InstanceStats { alive: true, ..Default::default() });
        Ok(Instance { child, api, _tap: tap, pid, init: Some(exec.elapsed()) })
    }

    /// One invocation on a warm instance, or a new one: the function's
    /// answer, or why there was none. An instance that timed out or died is
    /// discarded, as Lambda discards its environment.
    pub async fn invoke(&self, payload: Bytes, records: usize, region: &str) -> Result<Outcome, Failure> {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        let mut instance = match self.take_idle() {
            Some(instance) => instance,
            None => self.start_instance(region).await.map_err(Failure::Start)?,
        };
        self.record(instance.pid, |s| {
            s.invocations += 1;
            s.records += records as u64;
        });
        let started = Instant::now();
        let result = tokio::select! {
            outcome = instance.api.invoke(payload, self.spec.timeout) => outcome.map_err(Failure::from),
            status = instance.child.wait() => Err(Failure::Exited {
                status: status.map_or_else(|e| e.to_string(), |s| s.to_string()),
                init_error: instance.api.init_error().unwrap_or_default(),
            }),
        };
        let duration = started.elapsed();
        let billed_ms = duration.as_micros().div_ceil(1000) as u64;
        self.billed_ms.fetch_add(billed_ms, Ordering::Relaxed);
        self.report(duration, billed_ms, instance.init.take(), &result);
        let result = match result {
            Ok(_) if self.crashes.fire(CrashPoint::Answer) => Err(Failure::Crashed),
            other => other,
        };
        if result.is_err() {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        if result.is_ok() && self.current_switch().running {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(instance);
        } else {
            // Timed out, died, crashed, or the function was stopped meanwhile.
            instance.child.start_kill().ok();
            instance.child.wait().await.ok();
            self.record(instance.pid, |s| s.alive = false);
        }
        if let Ok(Outcome::Error(_)) = &result {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Lambda's `platform.report` record (JSON log format) in the function's
    /// log: duration, billed duration, memory, and Init Duration after a cold
    /// start. Benchmarks read it; appended lines from several writers stay whole.
    fn report(&self, duration: Duration, billed_ms: u64, init: Option<Duration>, result: &Result<Outcome, Failure>) {
        let Some(path) = &self.log_file else { return };
        let status = match result {
            Ok(Outcome::Response(_)) => "success",
            Ok(Outcome::Error(_)) => "error",
            Err(Failure::Invoke(InvokeError::Timeout(_))) => "timeout",
            Err(_) => "failure",
        };
        let mut metrics = serde_json::json!({
            "durationMs": duration.as_secs_f64() * 1000.0,
            "billedDurationMs": billed_ms,
            "memorySizeMB": self.spec.memory_mb,
        });
        if let Some(init) = init {
            metrics["initDurationMs"] = serde_json::json!(init.as_secs_f64() * 1000.0);
        }
        let line = serde_json::json!({
            "time": chrono::Utc::now().to_rfc3339(),
            "type": "platform.report",
            "record": { "metrics": metrics, "status": status },
        });
        let written = std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .and_then(|mut file| std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            tracing::warn!(function = %self.spec.logical_id, "writing the report to {}: {e}", path.display());
        }
    }

    /// One invocation's answer, or `None` when the function failed (its
    /// error, a timeout, a crash), which is logged here for every event source.
    pub async fn answer(&self, payload: Bytes, records: usize, region: &str) -> Option<Bytes> {
        match self.invoke(payload, records, region).await {
            Ok(Outcome::Response(body)) => Some(body),
            Ok(Outcome::Error(body)) => {
                tracing::warn!(function = %self.spec.logical_id, "function error: {}", String::from_utf8_lossy(&body));
                None
            }
            Err(failure) => {
                tracing::warn!(function = %self.spec.logical_id, "invocation failed: {failure}");
                None
            }
        }
    }

    /// A warm instance whose process is still there; one that exited while
    /// idle is dropped (and said so), as Lambda replaces a lost environment.
    fn take_idle(&self) -> Option<Instance> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(mut instance) = idle.pop() {
            match instance.child.try_wait() {
                Ok(None) => return Some(instance),
                status => {
                    tracing::warn!(function = %self.spec.logical_id, pid = instance.pid, ?status, "an idle instance exited");
                    self.record(instance.pid, |s| s.alive = false);
                }
            }
        }
        None
    }

    fn record(&self, pid: u32, update: impl FnOnce(&mut InstanceStats)) {
        if let Some(stats) = self.instances.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&pid) {
            update(stats);
        }
    }

    /// Start a fresh process, wait for its init to end, stop it: its Init
    /// Duration (exec to the first `next` request).
    pub async fn cold_start(&self, region: &str) -> anyhow::Result<Duration> {
        let mut instance = self.start_instance(region).await?;
        instance.child.start_kill().ok();
        instance.child.wait().await.ok();
        self.record(instance.pid, |s| s.alive = false);
        instance.init.context("a new instance has its init duration")
    }

    /// Start a fresh process and hand it `payload` as its first invocation:
    /// (exec → its first `next`, exec → that invocation answered). The
    /// difference is what the first records pay beyond init (connections).
    pub async fn first_invocation(
        &self,
        payload: Vec<u8>,
        records: usize,
        region: &str,
    ) -> anyhow::Result<(Duration, Duration)> {
        let mut instance = self.start_instance(region).await?;
        let init = instance.init.take().context("a new instance has its init duration")?;
        let invoked = Instant::now();
        let outcome = instance.api.invoke(Bytes::from(payload), self.spec.timeout).await;
        let answered = init + invoked.elapsed();
        instance.child.start_kill().ok();
        instance.child.wait().await.ok();
        self.record(instance.pid, |s| {
            s.alive = false;
            s.invocations += 1;
            s.records += records as u64;
        });
        anyhow::ensure!(matches!(outcome, Ok(Outcome::Response(_))), "the first invocation failed: {outcome:?}");
        Ok((init, answered))
    }

    /// Start one instance ahead of the first event, so a broken binary or
    /// configuration shows at `up` rather than at the first message.
    pub async fn warm_up(&self, region: &str) -> anyhow::Result<()> {
        let instance = self.start_instance(region).await?;
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(instance);
        Ok(())
    }

    /// A variable of the function's environment.
    fn env(&self, name: &str) -> Option<String> {
        self.environment.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    pub fn switch(&self) -> watch::Receiver<Switch> {
        self.switch.subscribe()
    }

    pub fn current_switch(&self) -> Switch {
        *self.switch.borrow()
    }

    /// Stop feeding the function and let its idle instances go.
    pub fn stop(&self) {
        self.switch.send_replace(Switch { running: false, concurrency: None });
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for instance in idle {
            self.record(instance.pid, |s| s.alive = false);
        }
    }

    /// Feed it again, with at most `concurrency` instances when given.
    pub fn start(&self, concurrency: Option<usize>) {
        self.switch.send_replace(Switch { running: true, concurrency });
    }

    pub fn instances(&self) -> BTreeMap<u32, InstanceStats> {
        self.instances.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The child gets SIGKILL when the host dies, even by SIGKILL, so no
/// function process outlives it.
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: prctl and getppid are async-signal-safe; nothing else runs
    // between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect.
            if libc::getppid() as u32 != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}
