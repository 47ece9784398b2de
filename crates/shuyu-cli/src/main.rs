//! `shuyu`: run the platform, the demo, and the tools data stewards and auditors use.

mod bench;
mod bench_ballista;
mod bench_catalogue;
mod bench_interface;
mod bench_monitoring;
mod bench_privacy;
mod bench_sandbox;
mod classify;
mod cluster;
mod gen;
mod ingest;
mod tpch;
mod verify;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};
use shuyu_core::calendar::WorkingCalendar;
use shuyu_core::profile::PolicyProfile;
use shuyu_core::validators::{check, IdentifierKind};
use shuyu_server::ServerConfig;

#[derive(Debug, Parser)]
#[command(name = "shuyu", version, about = "数域 Shuyu — public data authorized operation platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a deployment from a config file and environment variables.
    Serve(ServeArgs),
    /// Create (or with --reset recreate) a demo data directory, seed demo accounts, and serve.
    Demo(DemoArgs),
    /// Bring the database's schema up to date and report what ran (`shuyu serve` does the same
    /// at start; run this first when a deployment's processes start together after an upgrade).
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The working-day calendar.
    Calendar {
        #[command(subcommand)]
        command: CalendarCommand,
    },
    /// Check an identifier: resident-id, uscc, mobile, bank-card, plate.
    Check { kind: String, value: String },
    /// Policy profiles.
    Profile {
        #[command(subcommand)]
        command: ProfileCommand,
    },
    /// Write deterministic synthetic public-sector data (residents, enterprises, traffic
    /// violations, social insurance, medical visits) as CSV or Parquet; datasets of the same seed
    /// join on resident IDs and credit codes.
    Gen {
        /// residents, enterprises, traffic_violations, social_insurance or medical_visits.
        #[arg(long)]
        dataset: String,
        #[arg(long, default_value_t = 10_000)]
        rows: u64,
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// How many residents the other datasets refer to (the residents file's row count).
        #[arg(long, default_value_t = 10_000)]
        residents: u64,
        #[arg(long, default_value = "gen")]
        out: PathBuf,
        /// csv or parquet.
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// Suggest each column's personal-information type and sensitivity level from a CSV sample.
    Classify {
        file: PathBuf,
        /// Rows to sample.
        #[arg(long, default_value_t = 1000)]
        sample: usize,
    },
    /// Load a CSV, JSON-lines or Parquet file into a published catalogue entry's dataset, as one
    /// of the holding department's data stewards, with a progress bar.
    Ingest {
        file: PathBuf,
        #[arg(long)]
        entry: String,
        /// The data steward the load is recorded under.
        #[arg(long = "as")]
        username: String,
        /// csv, jsonl or parquet; by default from the file name.
        #[arg(long)]
        format: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// The Apache Ballista scheduler and executors that governed plans run on when a
    /// deployment sets `query_cluster` (see "Deploying at scale" in the README).
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Benchmarks, reported as ratios against the raw engine measured in the same run.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
}

#[derive(Debug, Args)]
struct StoreArgs {
    /// Data directory (SQLite file and signing key).
    #[arg(long, env = "SHUYU_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// postgres://… to use PostgreSQL instead of the SQLite file.
    #[arg(long, env = "SHUYU_DATABASE_URL")]
    database_url: Option<String>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// TOML config file (keys as in ServerConfig); flags and environment override it.
    #[arg(long, env = "SHUYU_CONFIG")]
    config: Option<PathBuf>,
    #[arg(long, env = "SHUYU_LISTEN")]
    listen: Option<SocketAddr>,
    /// Also serve Arrow Flight SQL (operators' ADBC/JDBC tools) here, e.g. 127.0.0.1:50051.
    #[arg(long, env = "SHUYU_FLIGHT_LISTEN")]
    flight_listen: Option<SocketAddr>,
    /// Run governed plans on this Ballista cluster (df://host:port; see `shuyu cluster`).
    #[arg(long, env = "SHUYU_QUERY_CLUSTER")]
    query_cluster: Option<String>,
    #[arg(long, env = "SHUYU_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[arg(long, env = "SHUYU_DATABASE_URL")]
    database_url: Option<String>,
    /// Built-in profile name or path to a profile TOML.
    #[arg(long, env = "SHUYU_PROFILE")]
    profile: Option<String>,
    /// Enable POST /api/v1/admin/test-clock (for rehearsing deadlines; never in production).
    #[arg(long)]
    test_clock: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[arg(long, default_value = "demo-data")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Delete the demo data directory first.
    #[arg(long)]
    reset: bool,
    #[arg(long, default_value = "wuxi")]
    profile: String,
    #[arg(long)]
    test_clock: bool,
    /// Also serve Arrow Flight SQL here (for example 127.0.0.1:50051).
    #[arg(long)]
    flight_listen: Option<SocketAddr>,
    /// Seed and exit instead of serving.
    #[arg(long)]
    no_serve: bool,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Recompute every leaf and tree head from the database; exit non-zero naming the first
    /// bad event.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// Public key (PEM) to check tree-head signatures with; default: from the data
        /// directory's signing key.
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// Where the archive files are; default: the data directory's `audit-archive`.
        #[arg(long)]
        archive_dir: Option<PathBuf>,
    },
    /// Move events past the retention period (YXO §19) into a compressed archive file that
    /// ends at a signed tree head; the database keeps their leaf hashes.
    Archive {
        #[command(flatten)]
        store: StoreArgs,
        /// Directory for the archive files; default: the data directory's `audit-archive`.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Archive only events before this date (China time), never younger than retention.
        #[arg(long)]
        before: Option<NaiveDate>,
    },
    /// Check a directory of archive files from event 0 with the public key alone.
    VerifyArchive {
        dir: PathBuf,
        /// The platform's public key (PEM), as `GET /api/v1/audit/public-key` gives it.
        #[arg(long)]
        public_key: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum CalendarCommand {
    /// Print the date N working days after DATE.
    Add { date: NaiveDate, n: u32 },
    /// Print true or false.
    IsWorkday { date: NaiveDate },
}

#[derive(Debug, Subcommand)]
enum ProfileCommand {
    /// Print a profile (built-in name or file path) after validating it.
    Show { name: String },
    /// List the built-in profiles.
    List,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let _ = tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            init_logging();
            runtime()?.block_on(serve(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => {
            init_logging();
            runtime()?.block_on(demo(args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command: AuditCommand::Verify { store, public_key, archive_dir } } => {
            runtime()?.block_on(verify::run(store.data_dir, store.database_url, public_key, archive_dir))
        }
        Command::Audit { command: AuditCommand::Archive { store, out, before } } => {
            runtime()?.block_on(verify::archive(store.data_dir, store.database_url, out, before))
        }
        Command::Audit { command: AuditCommand::VerifyArchive { dir, public_key } } => {
            verify::verify_archives(&dir, &public_key)
        }
        Command::Calendar { command } => {
            let calendar = WorkingCalendar::shipped()?;
            match command {
                CalendarCommand::Add { date, n } => println!("{}", calendar.add_working_days(date, n)?),
                CalendarCommand::IsWorkday { date } => println!("{}", calendar.is_workday(date)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { kind, value } => {
            let kind: IdentifierKind = kind.parse()?;
            match check(kind, &value) {
                Ok(()) => {
                    println!("valid");
                    Ok(ExitCode::SUCCESS)
                }
                Err(reason) => {
                    println!("invalid: {reason}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Profile { command: ProfileCommand::Show { name } } => {
            let profile = shuyu_server::load_profile(&name)?;
            print!("{}", profile.to_toml_string());
            Ok(ExitCode::SUCCESS)
        }
        Command::Profile { command: ProfileCommand::List } => {
            for name in PolicyProfile::builtin_names() {
                println!("{name}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { command } => runtime()?.block_on(bench::run(command)),
        Command::Cluster { command } => runtime()?.block_on(cluster::run(command)).map(|()| ExitCode::SUCCESS),
        Command::Migrate { store } => {
            let config =
                ServerConfig { data_dir: store.data_dir, database_url: store.database_url, ..ServerConfig::default() };
            runtime()?.block_on(migrate(&config))
        }
        Command::Ingest { file, entry, username, format, store } => {
            let config =
                ServerConfig { data_dir: store.data_dir, database_url: store.database_url, ..ServerConfig::default() };
            runtime()?.block_on(ingest::run(config, &file, &entry, &username, format.as_deref()))
        }
        Command::Gen { dataset, rows, seed, residents, out, format } => match format.as_str() {
            "csv" | "parquet" => gen::run(&dataset, rows, seed, residents, &out, format == "parquet"),
            other => anyhow::bail!("unknown format {other}: use csv or parquet"),
        },
        Command::Classify { file, sample } => classify::run(&file, sample),
    }
}

async fn migrate(config: &ServerConfig) -> Result<ExitCode> {
    // Without a database URL the schema lives in the data directory's SQLite file.
    if config.database_url.as_deref().is_none_or(str::is_empty) {
        std::fs::create_dir_all(&config.data_dir).with_context(|| format!("creating {}", config.data_dir.display()))?;
    }
    let store = shuyu_store::Store::connect(&config.database_url()).await?;
    let m = store.migrations().clone();
    store.close().await;
    if m.applied_now.is_empty() {
        println!("数据库结构已是最新 / schema up to date: version {} ({} migrations)", m.version, m.known);
    } else {
        let list: Vec<String> = m.applied_now.iter().map(i64::to_string).collect();
        println!(
            "已执行迁移 / applied {} migration(s): {}; schema now at version {}",
            m.applied_now.len(),
            list.join(", "),
            m.version
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> Result<()> {
    let mut config: ServerConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("{}: invalid configuration", path.display()))?
        }
        None => ServerConfig::default(),
    };
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.flight_listen {
        config.flight_listen = Some(v);
    }
    if let Some(v) = args.query_cluster {
        config.query_cluster = Some(v);
    }
    if let Some(v) = args.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = args.database_url {
        config.database_url = Some(v);
    }
    if let Some(v) = args.profile {
        config.profile = v;
    }
    config.test_clock |= args.test_clock;
    let state = shuyu_server::build_state(config).await?;
    let password = std::env::var("SHUYU_ADMIN_PASSWORD").ok();
    if let Some(generated) = shuyu_server::demo::bootstrap_admin(&state, password).await.map_err(api_err)? {
        // To the terminal only, once; never through the log.
        println!("首次启动：已创建管理员账户 admin，初始密码 / first start: administrator `admin`, password:\n  {generated}\n请登录后立即修改 / change it after signing in.");
    }
    let server = shuyu_server::start(state, true).await?;
    tracing::info!(url = %server.url(), "Shuyu is serving");
    println!("Shuyu 数域 serving at {}/console", server.url());
    if let Some(at) = server.flight_addr {
        println!("Arrow Flight SQL at grpc://{at}");
    }
    server.wait().await?;
    Ok(())
}

/// Generated residents and enterprises loaded into the demo's two matching catalogue entries,
/// as the data steward would, so the sandbox has data to grant and query.
/// Generates the demo's residents and `enterprises` enterprises and loads them into their
/// published entries as the steward would.
pub(crate) async fn load_demo_data(
    state: &shuyu_server::AppState,
    data_dir: &std::path::Path,
    enterprises: u64,
) -> Result<()> {
    let input = data_dir.join("demo-input");
    gen::run("residents", 20_000, 2026, 20_000, &input, false)?;
    gen::run("enterprises", enterprises, 2026, 20_000, &input, false)?;
    let mut conn = state.store.acquire().await?;
    let steward =
        shuyu_store::users::find_by_username(&mut conn, "steward").await?.context("the demo steward is missing")?;
    let entries = shuyu_store::catalogue::list(&mut conn, None, true).await?;
    drop(conn);
    let ctx = shuyu_store::AuditContext {
        actor: steward.id.to_string(),
        organisation: steward.org_id.to_string(),
        request_id: "demo-seed".into(),
        client_addr: "cli".into(),
    };
    for (name, file) in [("常住人口基本信息", "residents.csv"), ("市场主体登记信息", "enterprises.csv")]
    {
        let Some(entry) = entries.iter().find(|e| e.published.as_ref().is_some_and(|m| m.name == name)) else {
            continue;
        };
        let format = shuyu_sandbox::ingest::Format::Csv;
        let (record, quality) =
            shuyu_server::sandbox::ingest_file(state, &ctx, entry, &steward, &input.join(file), format, |_| {})
                .await
                .map_err(api_err)?;
        println!(
            "{name}: {} rows loaded (dataset {}), quality score {}",
            record.evidence["rows"], record.id, quality["score"]
        );
    }
    Ok(())
}

fn api_err(e: shuyu_server::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}: {}", e.body.code, e.body.message)
}

async fn demo(args: DemoArgs) -> Result<()> {
    if args.reset && args.data_dir.exists() {
        std::fs::remove_dir_all(&args.data_dir).with_context(|| format!("removing {}", args.data_dir.display()))?;
    }
    let config = ServerConfig {
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        profile: args.profile.clone(),
        test_clock: args.test_clock,
        flight_listen: args.flight_listen,
        // A rehearsal keeps working across a new year whose holiday notice is not loaded yet.
        provisional_calendar_years: true,
        ..ServerConfig::default()
    };
    let state = shuyu_server::build_state(config).await?;
    for year in state.calendar.provisional_years() {
        println!(
            "演示：{year}年节假日安排尚未载入，{year}年的期限按周末及元旦、劳动节、国庆节临时计算 / \
             demo: no holiday notice for {year} is loaded; its deadlines count weekends and fixed-date holidays only"
        );
    }
    let accounts = shuyu_server::demo::seed(&state).await.map_err(api_err)?;
    if !accounts.is_empty() {
        shuyu_server::demo::seed_showcase(&state).await.map_err(api_err)?;
        load_demo_data(&state, &args.data_dir, 2_000).await?;
        shuyu_server::demo::seed_workspace(&state).await.map_err(api_err)?;
        println!("工作空间「小微企业授信评估（演示）」已就绪：以 analyst 登录即可查询 / a workspace is ready: sign in as analyst");
        if let Some((product, key)) = shuyu_server::demo::seed_products(&state, 600).await.map_err(api_err)? {
            println!(
                "数据接口已发布 / a data interface is published: GET /data-api/v1/{product}/1?industry=I64 \
                 with header X-Api-Key: {key}"
            );
            println!("（密钥仅显示这一次 / the key is shown only this once）");
        }
    }
    println!("数域 Shuyu demo — data in {}", args.data_dir.display());
    if accounts.is_empty() {
        println!("(demo accounts already exist; use --reset to recreate them; passwords are <username>-demo-2026)");
    } else {
        println!("{:<14} {:<22} {:<24} 机构 / organisation", "用户名 user", "密码 password", "角色 role");
        for a in &accounts {
            println!("{:<14} {:<22} {:<24} {}", a.username, a.password, a.role.as_str(), a.organisation);
        }
    }
    if args.no_serve {
        return Ok(());
    }
    let server = shuyu_server::start(state, true).await?;
    println!("\n打开 / open: {}/console", server.url());
    if let Some(at) = server.flight_addr {
        println!("Arrow Flight SQL: grpc://{at} (header x-shuyu-workspace: <workspace id>)");
    }
    server.wait().await?;
    Ok(())
}
