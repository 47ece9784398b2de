//! `shuyu cluster`: the Apache Ballista scheduler and executors that governed plans run on when
//! a deployment sets `query_cluster`. They are Ballista's own, with Shuyu's codecs installed so
//! that the masking functions inside a governed plan decode on every node. They receive only
//! plans a Shuyu server has already governed; their ports belong on the secure domain's private
//! network (see the README, "Deploying at scale").

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use ballista_executor::executor_process::{start_executor_process, ExecutorProcessConfig};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use clap::Subcommand;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use shuyu_sandbox::distributed::{ShuyuLogicalCodec, ShuyuPhysicalCodec};

#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// The scheduler: plans the stages of each governed plan and hands them to executors.
    Scheduler {
        /// Address to listen on; port 0 picks a free one (printed on start).
        #[arg(long, default_value = "127.0.0.1:50050")]
        listen: SocketAddr,
        /// The host name executors and servers reach this scheduler at (default: the listen address).
        #[arg(long)]
        external_host: Option<String>,
        /// Executors that must be registered before `/readyz` answers 200.
        #[arg(long, default_value_t = 1)]
        min_executors: usize,
    },
    /// An executor: runs stages and serves their shuffle output to the other executors.
    Executor {
        /// The scheduler, host:port.
        #[arg(long, default_value = "127.0.0.1:50050")]
        scheduler: String,
        /// Address to listen on for shuffle reads (Arrow Flight).
        #[arg(long, default_value = "127.0.0.1:50051")]
        listen: SocketAddr,
        /// Port for the scheduler's task calls (gRPC), on the same host.
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// The host name the scheduler and other executors reach this one at.
        #[arg(long)]
        external_host: Option<String>,
        /// Where shuffle files are written: inside the secure domain, like the data.
        #[arg(long)]
        work_dir: PathBuf,
        /// Tasks run at once (default: the machine's cores).
        #[arg(long)]
        concurrent_tasks: Option<usize>,
    },
}

pub async fn run(command: ClusterCommand) -> Result<()> {
    match command {
        ClusterCommand::Scheduler { listen, external_host, min_executors } => {
            scheduler(listen, external_host, min_executors).await
        }
        ClusterCommand::Executor { scheduler, listen, grpc_port, external_host, work_dir, concurrent_tasks } => {
            executor(&scheduler, listen, grpc_port, external_host, &work_dir, concurrent_tasks).await
        }
    }
}

async fn scheduler(listen: SocketAddr, external_host: Option<String>, min_executors: usize) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let bound = listener.local_addr()?;
    let config = SchedulerConfig {
        bind_host: bound.ip().to_string(),
        bind_port: bound.port(),
        external_host: external_host.unwrap_or_else(|| bound.ip().to_string()),
        min_ready_executors: min_executors.max(1),
        override_logical_codec: Some(Arc::new(ShuyuLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(ShuyuPhysicalCodec::default())),
        ..SchedulerConfig::default()
    };
    config.validate().map_err(|e| anyhow::anyhow!("scheduler configuration: {e}"))?;
    let config = Arc::new(config);
    let cluster = BallistaCluster::new_from_config(&config).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let server = create_scheduler::<LogicalPlanNode, PhysicalPlanNode>(cluster, config)
        .await
        .map_err(|e| anyhow::anyhow!("starting the scheduler: {e}"))?;
    // Tests and scripts read the address from this line.
    println!("调度器已启动 / scheduler listening on {bound}");
    start_grpc_service_with_listener(listener, server).await.map_err(|e| anyhow::anyhow!("scheduler: {e}"))
}

async fn executor(
    scheduler: &str,
    listen: SocketAddr,
    grpc_port: u16,
    external_host: Option<String>,
    work_dir: &Path,
    concurrent_tasks: Option<usize>,
) -> Result<()> {
    let (host, port) = scheduler
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
        .with_context(|| format!("--scheduler {scheduler:?}: write it as host:port"))?;
    std::fs::create_dir_all(work_dir).with_context(|| format!("creating {}", work_dir.display()))?;
    let mut config = ExecutorProcessConfig {
        bind_host: listen.ip().to_string(),
        port: listen.port(),
        grpc_port,
        external_host,
        scheduler_host: host,
        scheduler_port: port,
        work_dir: Some(work_dir.display().to_string()),
        print_thread_info: false,
        override_logical_codec: Some(Arc::new(ShuyuLogicalCodec::default())),
        override_physical_codec: Some(Arc::new(ShuyuPhysicalCodec::default())),
        ..ExecutorProcessConfig::default()
    };
    if let Some(n) = concurrent_tasks {
        config.vcores = n.max(1);
    }
    println!("执行器已启动 / executor listening on {listen}, scheduler {scheduler}");
    start_executor_process(Arc::new(config)).await.map_err(|e| anyhow::anyhow!("executor: {e}"))
}

/// A scheduler and executors started on this machine as child processes of this binary, for
/// the benchmark and the tests; killed when dropped.
pub struct LocalCluster {
    pub url: String,
    children: Vec<Child>,
    work: tempfile::TempDir,
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl LocalCluster {
    /// Starts one scheduler and `executors` executors, each with `tasks` concurrent tasks, and
    /// waits until the scheduler reports them all registered.
    pub async fn start(executors: usize, tasks: usize) -> Result<Self> {
        let exe = std::env::current_exe()?;
        let work = tempfile::tempdir()?;
        let logs = work.path().to_path_buf();
        let port = free_port()?;
        let spawn = |args: Vec<String>, log: &str| -> Result<Child> {
            let log = std::fs::File::create(logs.join(log))?;
            Command::new(&exe)
                .args(args)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting a cluster process")
        };
        let mut cluster = LocalCluster { url: format!("df://127.0.0.1:{port}"), children: Vec::new(), work };
        let scheduler = [
            "cluster",
            "scheduler",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--min-executors",
            &executors.to_string(),
        ];
        cluster.children.push(spawn(scheduler.iter().map(|s| s.to_string()).collect(), "scheduler.log")?);
        for i in 0..executors {
            let dir = cluster.work.path().join(format!("executor-{i}"));
            let args = vec![
                "cluster".into(),
                "executor".into(),
                "--scheduler".into(),
                format!("127.0.0.1:{port}"),
                "--listen".into(),
                format!("127.0.0.1:{}", free_port()?),
                "--grpc-port".into(),
                free_port()?.to_string(),
                "--work-dir".into(),
                dir.display().to_string(),
                "--concurrent-tasks".into(),
                tasks.to_string(),
            ];
            cluster.children.push(spawn(args, &format!("executor-{i}.log"))?);
        }
        let ready = format!("http://127.0.0.1:{port}/readyz");
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(&ready).send().await {
                if r.status().is_success() {
                    return Ok(cluster);
                }
            }
            for (i, c) in cluster.children.iter_mut().enumerate() {
                if let Some(status) = c.try_wait()? {
                    let log = if i == 0 { "scheduler.log".to_string() } else { format!("executor-{}.log", i - 1) };
                    let text = std::fs::read_to_string(cluster.work.path().join(log)).unwrap_or_default();
                    anyhow::bail!("a cluster process exited at start ({status}):\n{text}");
                }
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "the scheduler did not see {executors} executors within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
