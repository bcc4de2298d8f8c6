//! `cargo bench --bench reconcile`: plan and apply of a large environment against two emulated
//! workspaces (primary active, secondary passive), each a separate `tandem emulator` process,
//! tandem itself run as a subprocess (`tandem -C <repo> -e bench plan|apply`).
//!
//! Scenario: 2,000 jobs (every 4th has 3 tasks chained with `depends_on`), 200 clusters (half on
//! a pool), 50 pools, 20 secret scopes × 10 secrets, permissions on every object (jobs: an
//! IS_OWNER user and a CAN_MANAGE_RUN group; clusters and pools: a group; scopes: an ACL).
//!
//! Measured:
//! 1. requests of a no-op `plan` per workspace (emulator `/__emulator/stats`) against the least
//!    the API allows (list pages, one permissions read per object, secrets + ACL list per scope,
//!    the state record); target ≤ 1.1;
//! 2. `plan` wall time with 20 ms emulator latency against requests × latency ÷ parallelism
//!    (16); target ≤ 1.3; and whether the two workspaces overlap (both vs each alone);
//! 3. `plan` wall time with a 50 requests/s rate limit per workspace against requests ÷ 50;
//!    target ≤ 1.2; and the 429s tandem received (its own debug log of every answer);
//! 4. `apply` from empty and a no-op re-plan: wall time and requests (latency 0);
//! 5. peak RSS of `plan` (`/usr/bin/time -v`, else polling VmHWM); target < 300 MB;
//! 6. `promote` (failover, then failback) with 20 ms latency against write requests × latency
//!    ÷ parallelism of the busier workspace; target ≤ 1.3;
//! 7. requests of a no-op `plan` per workspace of a second repository, 500 jobs whose
//!    configuration lists no permissions (so tandem leaves their grants alone and reads none),
//!    against its list requests (jobs/list pages, clusters/list, instance-pools/list) plus the
//!    state record and the caller; target ≤ 1.1.
//!
//! Apply runs once on fresh emulator state; every later plan runs on copies of that state, on
//! emulators started with the flags the measurement needs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tandem::config::emit;
use tandem::model::{Kind, Resources};

const JOBS: usize = 2_000;
const CLUSTERS: usize = 200;
const POOLS: usize = 50;
const SCOPES: usize = 20;
const SECRETS_PER_SCOPE: usize = 10;
const JOB_FILES: usize = 10;
/// tandem's default `--parallelism`.
const PARALLELISM: f64 = 16.0;
const LATENCY_MS: u64 = 20;
const RATE_LIMIT: u32 = 50;
/// Timed runs per latency configuration (the median is reported).
const RUNS: usize = 3;
const WORKSPACES: [&str; 2] = ["primary", "secondary"];
const OWNERS: [&str; 4] = [
    "etl-bot@example.com",
    "alice@example.com",
    "bob@example.com",
    "carol@example.com",
];
const GROUPS: [&str; 3] = ["data-eng", "analysts", "platform-ops"];
/// Jobs of the repository without permissions (scenario 7).
const PLAIN_JOBS: usize = 500;

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A private copy of the binary: a concurrent `cargo build --release` must not swap it mid-run.
    let binary = dir.path().join("tandem");
    std::fs::copy(env!("CARGO_BIN_EXE_tandem"), &binary).expect("copy the tandem binary");
    let repo = dir.path().join("repo");
    let states = dir.path().join("state");
    std::fs::create_dir_all(&states).expect("mkdir state");
    generate(&repo);
    if let Some(keep) = std::env::var_os("TANDEM_BENCH_KEEP") {
        generate(Path::new(&keep));
    }
    let tandem = Tandem {
        binary: binary.clone(),
        repo: repo.clone(),
        time: Path::new("/usr/bin/time").exists(),
        scratch: dir.path().to_path_buf(),
    };
    let started = Instant::now();
    let load_before = loadavg();
    let minimum = minimum_plan_requests();

    // Fixed cost of every run: process start and loading the configuration, no workspace contacted.
    write_env(&repo, "http://127.0.0.1:9", "http://127.0.0.1:9");
    let validate = median(
        (0..RUNS)
            .map(|_| tandem.run(&["validate"], None).expect_ok("validate").wall)
            .collect(),
    );

    // 4 (and 1, 5). Apply from empty, then no-op re-plans (latency 0).
    let fresh: Vec<PathBuf> = WORKSPACES
        .iter()
        .map(|w| states.join(format!("{w}.json")))
        .collect();
    let (apply, apply_stats, noop) = {
        let emulators: Vec<Emulator> = fresh
            .iter()
            .map(|s| Emulator::start(&binary, s, 0, None))
            .collect();
        write_env(&repo, &emulators[0].url(), &emulators[1].url());
        let apply = tandem
            .run(&["apply", "--auto-approve"], None)
            .expect_ok("apply");
        let apply_stats: Vec<Stats> = emulators.iter().map(Emulator::stats).collect();
        let noop = timed_plans(&tandem, &emulators, None);
        (apply, apply_stats, noop)
        // The emulators stop here (SIGTERM: the journal is folded into the state files).
    };
    let apply_actions: Vec<usize> = WORKSPACES
        .iter()
        .map(|w| {
            apply
                .stdout
                .lines()
                .filter(|l| l.starts_with(&format!("{w}  ")) && l.contains("  ok  "))
                .count()
        })
        .collect();
    let apply_failed = apply
        .stdout
        .lines()
        .filter(|l| l.contains("  failed  "))
        .count();

    // 2. Latency 20 ms: both workspaces slow; then each alone slow (the other at latency 0 on the
    // same state, so tandem does the same work in every run); then one run with tandem's request
    // log, for where the time goes.
    let copy = |tag: &str| -> Vec<PathBuf> {
        fresh
            .iter()
            .zip(WORKSPACES)
            .map(|(src, w)| {
                let dst = states.join(format!("{w}-{tag}.json"));
                std::fs::copy(src, &dst).expect("copy state");
                dst
            })
            .collect()
    };
    let (slow_paths, fast_paths) = (copy("slow"), copy("fast"));
    let (lat_both, lat_primary, lat_secondary, phases) = {
        let slow: Vec<Emulator> = slow_paths
            .iter()
            .map(|s| Emulator::start(&binary, s, LATENCY_MS, None))
            .collect();
        let fast: Vec<Emulator> = fast_paths
            .iter()
            .map(|s| Emulator::start(&binary, s, 0, None))
            .collect();
        let both = timed_plans(&tandem, &slow, None);
        let primary = timed_plans(&tandem, &[&slow[0], &fast[1]], None);
        let secondary = timed_plans(&tandem, &[&fast[0], &slow[1]], None);
        write_env(&repo, &slow[0].url(), &slow[1].url());
        let logged = tandem.run(
            &["plan", "--detailed-exitcode"],
            Some("tandem::client=debug"),
        );
        (both, primary, secondary, Phases::of(&logged))
    };

    // 3. Rate limit 50 requests/s per workspace (one run: it takes ~50 s).
    let limited = copy("limited");
    let (rl, rl_stats) = {
        let emulators: Vec<Emulator> = limited
            .iter()
            .map(|s| Emulator::start(&binary, s, 0, Some(RATE_LIMIT)))
            .collect();
        write_env(&repo, &emulators[0].url(), &emulators[1].url());
        let run = tandem.run(
            &["plan", "--detailed-exitcode"],
            Some("tandem::client=debug"),
        );
        let stats: Vec<Stats> = emulators.iter().map(Emulator::stats).collect();
        (run, stats)
    };
    // 6. Promotion of the secondary with 20 ms latency on both workspaces (copies of the
    // applied state: primary active), then one run back (failback), each timed once.
    let promotion_states = copy("promote");
    let (failover, failback) = {
        let emulators: Vec<Emulator> = promotion_states
            .iter()
            .map(|s| Emulator::start(&binary, s, LATENCY_MS, None))
            .collect();
        write_env(&repo, &emulators[0].url(), &emulators[1].url());
        let promote = |to: &str| {
            emulators.iter().for_each(Emulator::reset);
            let run = tandem
                .run(&["promote", to, "--auto-approve", "--no-commit"], None)
                .expect_ok("promote");
            let stats: Vec<Stats> = emulators.iter().map(Emulator::stats).collect();
            (run, stats)
        };
        (promote("secondary"), promote("primary"))
    };
    // 7. A repository whose jobs list no permissions: apply, then one no-op plan (latency 0).
    let plain = Tandem {
        repo: dir.path().join("plain"),
        ..tandem.clone()
    };
    generate_plain(&plain.repo);
    let plain_stats: Vec<Stats> = {
        let emulators: Vec<Emulator> = WORKSPACES
            .iter()
            .map(|w| Emulator::start(&binary, &states.join(format!("{w}-plain.json")), 0, None))
            .collect();
        write_env(&plain.repo, &emulators[0].url(), &emulators[1].url());
        plain
            .run(&["apply", "--auto-approve"], None)
            .expect_ok("apply of the repository without permissions");
        emulators.iter().for_each(Emulator::reset);
        plain
            .run(&["plan", "--detailed-exitcode"], None)
            .expect_ok("no-op plan of the repository without permissions");
        emulators.iter().map(Emulator::stats).collect()
    };

    let rl_log: Vec<RequestLine> = rl.stderr.lines().filter_map(RequestLine::parse).collect();
    let load_after = loadavg();

    // ---- report -------------------------------------------------------------------------
    let s = |d: Duration| d.as_secs_f64();
    let mb = |kb: u64| format!("{:.0} MB", kb as f64 / 1024.0);
    println!();
    println!(
        "reconcile benchmark: {JOBS} jobs ({} with 3 tasks + depends_on), {CLUSTERS} clusters, {POOLS} pools, {SCOPES} scopes × {SECRETS_PER_SCOPE} secrets,",
        JOBS / 4
    );
    println!(
        "permissions on every object, 2 emulated workspaces (primary active, secondary passive), each its own `tandem emulator`"
    );
    println!(
        "process; tandem runs as a subprocess, --parallelism {PARALLELISM} (default); wall = tandem process start to exit."
    );
    println!(
        "machine: {} CPUs, load average {load_before} at start, {load_after} at end (other processes compete for the CPUs)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "fixed cost in every run: `tandem validate` (process start + config load, no requests) = {:.2} s (median of {RUNS})",
        s(validate)
    );

    println!();
    println!(
        "1. plan requests per workspace (no-op plan after apply, latency 0, emulator /__emulator/stats)"
    );
    println!(
        "   minimum = jobs/list {} pages (limit 100, expand_tasks) + clusters/list {} + instance-pools/list 1",
        JOBS.div_ceil(100),
        CLUSTERS.div_ceil(100)
    );
    println!(
        "           + {} permission reads (one per object) + {SCOPES} scopes × (secrets/list + acls/list) + state record 1 = {minimum}",
        JOBS + CLUSTERS + POOLS
    );
    println!(
        "   actual also includes tandem's secrets/scopes/list and SCIM Me (best possible: {})",
        minimum + 2
    );
    println!(
        "   {:<10} {:>8} {:>8} {:>7}",
        "workspace", "minimum", "actual", "ratio"
    );
    for (w, st) in WORKSPACES.iter().zip(&noop.stats) {
        let r = st.total as f64 / minimum as f64;
        println!(
            "   {w:<10} {minimum:>8} {:>8} {r:>7.3}   target ≤ 1.1 {}",
            st.total,
            verdict(r <= 1.1)
        );
    }
    println!("   by route (primary / secondary):");
    let mut routes: BTreeMap<&str, [u64; 2]> = BTreeMap::new();
    for (i, st) in noop.stats.iter().enumerate() {
        for (route, n) in &st.routes {
            routes.entry(route).or_default()[i] = *n;
        }
    }
    for (route, [p, q]) in &routes {
        println!("     {route:<54} {p:>5} / {q}");
    }

    println!();
    println!(
        "2. plan with {LATENCY_MS} ms added to every request (median of {RUNS}); ideal = requests × {LATENCY_MS} ms ÷ {PARALLELISM}"
    );
    println!(
        "   {:<56} {:>7} {:>8} {:>7}",
        "run", "wall s", "ideal s", "ratio"
    );
    let ideal = |n: u64| n as f64 * LATENCY_MS as f64 / 1000.0 / PARALLELISM;
    for (i, (w, run)) in WORKSPACES
        .iter()
        .zip([&lat_primary, &lat_secondary])
        .enumerate()
    {
        let n = run.stats[i].total;
        println!(
            "   {:<56} {:>7.2} {:>8.2} {:>7.2}{}",
            format!("{w} alone slow ({n} requests; other ws at 0 ms)"),
            s(run.wall),
            ideal(n),
            s(run.wall) / ideal(n),
            run.failure()
        );
    }
    let n_both = lat_both.stats.iter().map(|st| st.total).max().unwrap_or(0);
    let lat_ratio = s(lat_both.wall) / ideal(n_both);
    println!(
        "   {:<56} {:>7.2} {:>8.2} {:>7.2}   target ≤ 1.3 {}{}",
        format!(
            "both slow ({} + {} requests; ideal = slower ws)",
            lat_both.stats[0].total, lat_both.stats[1].total
        ),
        s(lat_both.wall),
        ideal(n_both),
        lat_ratio,
        verdict(lat_ratio <= 1.3),
        lat_both.failure()
    );
    let (p_alone, s_alone) = (s(lat_primary.wall), s(lat_secondary.wall));
    println!(
        "   overlap: both {:.2} s vs slower alone {:.2} s vs sum of alone {:.2} s: both ÷ slower alone = {:.2}, both ÷ sum = {:.2} {}",
        s(lat_both.wall),
        p_alone.max(s_alone),
        p_alone + s_alone,
        s(lat_both.wall) / p_alone.max(s_alone),
        s(lat_both.wall) / (p_alone + s_alone),
        verdict(s(lat_both.wall) <= 1.15 * p_alone.max(s_alone))
    );
    if let Some(ph) = &phases {
        println!(
            "   where the time goes (one more both-slow run, timestamps of tandem's own request log):"
        );
        for (label, span) in &ph.rows {
            println!("     {label:<62} {span}");
        }
    }

    println!();
    println!(
        "3. plan with a rate limit of {RATE_LIMIT} requests/s per workspace (token bucket, burst {RATE_LIMIT}); 1 run"
    );
    println!(
        "   429s: tandem's request log (TANDEM_LOG=tandem::client=debug, one `request` line per answer, status=429);"
    );
    println!(
        "   cross-check: log answers = emulator total (the emulator counts every request, 429s included)"
    );
    println!(
        "   ideal = requests a plan needs (the no-op plan's count, part 1) ÷ {RATE_LIMIT}/s; the slower workspace's is the plan's"
    );
    println!(
        "   {:<10} {:>6} {:>7} {:>7} {:>10} {:>8} {:>10} {:>8} {:>8} {:>9}",
        "workspace",
        "needed",
        "ideal s",
        "2xx",
        "429s",
        "log total",
        "emu total",
        "429/2xx",
        "2xx/s",
        "attempts"
    );
    let mut rl_ideal: f64 = 0.0;
    for (i, w) in WORKSPACES.iter().enumerate() {
        let mine: Vec<&RequestLine> = rl_log.iter().filter(|l| l.workspace == *w).collect();
        let throttled = mine.iter().filter(|l| l.status == 429).count() as u64;
        let ok = mine.iter().filter(|l| l.status < 400).count() as u64;
        let needed = noop.stats[i].total;
        let ideal = needed as f64 / RATE_LIMIT as f64;
        rl_ideal = rl_ideal.max(ideal);
        let mut per_path: BTreeMap<&str, usize> = BTreeMap::new();
        for l in mine.iter().filter(|l| l.path.contains("/permissions/")) {
            *per_path.entry(&l.path).or_default() += 1;
        }
        println!(
            "   {w:<10} {needed:>6} {ideal:>7.1} {ok:>7} {throttled:>10} {:>8} {:>10} {:>8.1} {:>8.1} {:>9}",
            mine.len(),
            rl_stats[i].total,
            throttled as f64 / ok.max(1) as f64,
            ok as f64 / s(rl.wall),
            per_path.values().max().copied().unwrap_or(0),
        );
    }
    println!(
        "   (2xx/s = successful answers ÷ wall; attempts = most attempts tandem made for one permissions read)"
    );
    if rl.code == 0 || rl.code == 2 {
        let r = s(rl.wall) / rl_ideal;
        println!(
            "   wall {:.1} s, ideal {:.1} s (slower workspace) → ratio {r:.2}   target ≤ 1.2 {}",
            s(rl.wall),
            rl_ideal,
            verdict(r <= 1.2)
        );
    } else {
        println!(
            "   PLAN FAILED after {:.1} s (exit {}), so no ratio   target ≤ 1.2 {}",
            s(rl.wall),
            rl.code,
            verdict(false)
        );
        for l in rl
            .stdout
            .lines()
            .chain(rl.stderr.lines().filter(|l| !l.contains(" DEBUG ")))
            .filter(|l| l.contains("error"))
            .take(4)
        {
            println!("     {}", l.trim());
        }
    }

    println!();
    println!("4. apply from empty, then a no-op re-plan (latency 0)");
    println!(
        "   {:<32} {:>7} {:>22} {:>14}",
        "run", "wall s", "requests prim / sec", "outcome"
    );
    println!(
        "   {:<32} {:>7.2} {:>22} {:>14}",
        format!(
            "apply ({} / {} actions)",
            apply_actions[0], apply_actions[1]
        ),
        s(apply.wall),
        format!("{} / {}", apply_stats[0].total, apply_stats[1].total),
        if apply_failed == 0 {
            "all ok".to_string()
        } else {
            format!("{apply_failed} failed")
        }
    );
    println!(
        "   {:<32} {:>7.2} {:>22} {:>14}",
        format!("no-op plan (median of {RUNS})"),
        s(noop.wall),
        format!("{} / {}", noop.stats[0].total, noop.stats[1].total),
        match noop.code {
            0 => "no changes".to_string(),
            2 => "CHANGES ✗".to_string(),
            c => format!("FAILED ({c}) ✗"),
        }
    );
    let extra: Vec<String> = apply_stats[0]
        .routes
        .iter()
        .filter(|(r, _)| r.starts_with("GET"))
        .map(|(r, n)| format!("{} {n}", r.trim_start_matches("GET /api/")))
        .collect();
    println!("   apply's reads (primary): {}", extra.join(", "));

    println!();
    println!(
        "6. promote with {LATENCY_MS} ms added to every request (one run each way, `promote <ws> --auto-approve --no-commit`)"
    );
    println!(
        "   ideal = write requests of the busier workspace × {LATENCY_MS} ms ÷ {PARALLELISM} (workspaces are promoted side by side)"
    );
    println!(
        "   {:<30} {:>16} {:>16} {:>7} {:>8} {:>7}",
        "run", "writes prim/sec", "reads prim/sec", "wall s", "ideal s", "ratio"
    );
    let mut promotion_ok = true;
    for (label, (run, stats)) in [
        ("failover (secondary active)", &failover),
        ("failback (primary active)", &failback),
    ] {
        let writes: Vec<u64> = stats.iter().map(Stats::writes).collect();
        let reads: Vec<u64> = stats.iter().map(|st| st.total - st.writes()).collect();
        let ideal = writes.iter().copied().max().unwrap_or_default() as f64 * LATENCY_MS as f64
            / 1000.0
            / PARALLELISM;
        let ratio = s(run.wall) / ideal;
        promotion_ok &= ratio <= 1.3;
        println!(
            "   {label:<30} {:>16} {:>16} {:>7.2} {:>8.2} {:>7.2}",
            format!("{} / {}", writes[0], writes[1]),
            format!("{} / {}", reads[0], reads[1]),
            s(run.wall),
            ideal,
            ratio
        );
    }
    println!("   target ≤ 1.3 {}", verdict(promotion_ok));
    let routes: Vec<String> = failover.1[1]
        .routes
        .iter()
        .filter(|(r, _)| !r.starts_with("GET"))
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    println!("   failover writes (secondary): {}", routes.join(", "));

    println!();
    let rss = [noop.rss, lat_both.rss, lat_primary.rss, lat_secondary.rss]
        .into_iter()
        .flatten()
        .max();
    println!(
        "5. peak RSS of plan ({}, max over the {} plan runs at 0 and {LATENCY_MS} ms): {}   target < 300 MB {}",
        if tandem.time {
            "/usr/bin/time -v"
        } else {
            "polled VmHWM"
        },
        4 * RUNS,
        rss.map_or("n/a".into(), mb),
        verdict(rss.is_some_and(|k| k < 300 * 1024))
    );
    if let Some(k) = apply.max_rss_kb {
        println!("   (apply from empty, for comparison: {})", mb(k));
    }

    println!();
    // What a no-op plan must read to compare anything: the lists, the state record with its
    // seal (record file, seal scope's secrets and ACLs), and who tandem runs as.
    let lists = PLAIN_JOBS.div_ceil(100) as u64 + 2;
    let needed = lists + 3 + 1;
    println!(
        "7. no-op plan of {PLAIN_JOBS} jobs whose configuration lists no permissions (latency 0): requests per workspace"
    );
    println!(
        "   reads it needs = jobs/list {} pages + clusters/list 1 + instance-pools/list 1 + state record 1 and its seal 2 (secrets/list, secrets/acls/list) + SCIM Me 1 = {needed}",
        PLAIN_JOBS.div_ceil(100),
    );
    for (w, st) in WORKSPACES.iter().zip(&plain_stats) {
        let r = st.total as f64 / needed as f64;
        let grants: u64 = st
            .routes
            .iter()
            .filter(|(route, _)| route.contains("/permissions/"))
            .map(|(_, n)| n)
            .sum();
        println!(
            "   {w:<10} {:>5} requests, {grants} permissions reads, ratio {r:.3}   target ≤ 1.1 {}",
            st.total,
            verdict(r <= 1.1)
        );
        let routes: Vec<String> = st.routes.iter().map(|(r, n)| format!("{r} {n}")).collect();
        println!("              {}", routes.join(", "));
    }
    println!();
    println!("benchmark total {:.0} s", started.elapsed().as_secs_f64());
}

/// `RUNS` no-op plans against `emulators` (stats reset before each); the median wall time.
fn timed_plans<E: std::borrow::Borrow<Emulator>>(
    tandem: &Tandem,
    emulators: &[E],
    log: Option<&str>,
) -> Timed {
    let emulators: Vec<&Emulator> = emulators.iter().map(|e| e.borrow()).collect();
    write_env(&tandem.repo, &emulators[0].url(), &emulators[1].url());
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        emulators.iter().for_each(|e| e.reset());
        let run = tandem.run(&["plan", "--detailed-exitcode"], log);
        let stats: Vec<Stats> = emulators.iter().map(|e| e.stats()).collect();
        runs.push((run, stats));
    }
    let rss = runs.iter().filter_map(|(r, _)| r.max_rss_kb).max();
    let code = runs
        .iter()
        .map(|(r, _)| r.code)
        .find(|c| *c != 0)
        .unwrap_or(0);
    runs.sort_by_key(|(r, _)| r.wall);
    let (run, stats) = runs.swap_remove(RUNS / 2);
    Timed {
        wall: run.wall,
        stats,
        code,
        rss,
    }
}

/// Timed no-op plans.
struct Timed {
    /// Median wall time.
    wall: Duration,
    /// Emulator stats of the median run, per workspace.
    stats: Vec<Stats>,
    /// The first non-zero exit code of the runs (0: all found no changes).
    code: i32,
    /// Highest peak RSS of the runs, kB.
    rss: Option<u64>,
}

impl Timed {
    fn failure(&self) -> String {
        match self.code {
            0 => String::new(),
            2 => "  (a run found CHANGES)".into(),
            c => format!("  (a run FAILED, exit {c})"),
        }
    }
}

/// One `request` line of tandem's client debug log.
struct RequestLine {
    /// When the answer was read, seconds since the epoch.
    at: f64,
    /// How long the request took, seconds.
    elapsed: f64,
    workspace: String,
    path: String,
    status: u16,
}

impl RequestLine {
    fn parse(line: &str) -> Option<Self> {
        if !line.contains(" request ") {
            return None;
        }
        let field = |name: &str| -> Option<&str> {
            let start = line.find(&format!(" {name}="))? + name.len() + 2;
            let rest = &line[start..];
            Some(match rest.strip_prefix('"') {
                Some(quoted) => &quoted[..quoted.find('"')?],
                None => rest.split(' ').next()?,
            })
        };
        let elapsed = field("elapsed")?;
        let (number, unit) =
            elapsed.split_at(elapsed.find(|c: char| c.is_alphabetic() || c == 'µ')?);
        let scale = match unit {
            "ns" => 1e-9,
            "µs" | "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            _ => return None,
        };
        Some(RequestLine {
            at: rfc3339_seconds(line.split(' ').next()?)?,
            elapsed: number.parse::<f64>().ok()? * scale,
            workspace: field("workspace")?.to_string(),
            path: field("path")?.to_string(),
            status: field("status")?.parse().ok()?,
        })
    }

    fn sent(&self) -> f64 {
        self.at - self.elapsed
    }
}

/// `2026-11-22T02:59:16.444264Z` as seconds since the epoch.
fn rfc3339_seconds(text: &str) -> Option<f64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (h, min) = (
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    let sec = t.next()?.parse::<f64>().ok()?;
    // Days since 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + sec)
}

/// The phases of one logged plan run.
struct Phases {
    rows: Vec<(String, String)>,
}

impl Phases {
    fn of(run: &RunResult) -> Option<Self> {
        let lines: Vec<RequestLine> = run.stderr.lines().filter_map(RequestLine::parse).collect();
        let t0 = run
            .started_at
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_secs_f64();
        let end = t0 + run.wall.as_secs_f64();
        let span = |pred: &dyn Fn(&RequestLine) -> bool| -> Option<(f64, f64, usize)> {
            let sel: Vec<&RequestLine> = lines.iter().filter(|l| pred(l)).collect();
            let first = sel.iter().map(|l| l.sent()).fold(f64::INFINITY, f64::min);
            let last = sel.iter().map(|l| l.at).fold(f64::NEG_INFINITY, f64::max);
            (!sel.is_empty()).then_some((first - t0, last - t0, sel.len()))
        };
        let fmt = |(a, b, n): (f64, f64, usize)| {
            format!("{a:>5.2} → {b:>5.2} s  ({:.2} s, {n} requests)", b - a)
        };
        let (first, last, n) = span(&|_| true)?;
        let mean_ms =
            1000.0 * lines.iter().map(|l| l.elapsed).sum::<f64>() / lines.len().max(1) as f64;
        let mut rows = vec![(
            "start → first request (process start, config load, connect)".to_string(),
            format!("{:>5.2} s", first),
        )];
        for (label, pred) in [
            (
                "jobs/list pages (sequential, page after page)",
                &(|l: &RequestLine| l.path.ends_with("/jobs/list"))
                    as &dyn Fn(&RequestLine) -> bool,
            ),
            (
                "permission reads (after every list is done)",
                &|l: &RequestLine| l.path.contains("/permissions/"),
            ),
            (
                "secrets/list + acls/list (after the permission reads)",
                &|l: &RequestLine| {
                    l.path.ends_with("/secrets/list") || l.path.ends_with("/acls/list")
                },
            ),
        ] {
            if let Some(sp) = span(pred) {
                rows.push((label.to_string(), fmt(sp)));
            }
        }
        rows.push((
            "all requests, both workspaces".to_string(),
            format!("{} (mean request {mean_ms:.1} ms)", fmt((first, last, n))),
        ));
        rows.push((
            "last answer → exit (diff, plan, render, for both workspaces)".to_string(),
            format!("{:>5.2} s", end - t0 - last),
        ));
        Some(Phases { rows })
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "n/a".into())
}

fn verdict(ok: bool) -> &'static str {
    if ok { "✓" } else { "✗ MISSED" }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n     ")
}

/// The least requests a plan of one workspace can make with the API.
fn minimum_plan_requests() -> u64 {
    (JOBS.div_ceil(100) // jobs/list, limit 100, expand_tasks
        + CLUSTERS.div_ceil(100) // clusters/list, page_size 100
        + 1 // instance-pools/list (unpaged)
        + JOBS + CLUSTERS + POOLS // one permissions read per object
        + SCOPES * 2 // secrets/list + secrets/acls/list per scope
        + 1) as u64 // state record
}

// ---- the configuration -------------------------------------------------------------------

fn write_env(repo: &Path, primary: &str, secondary: &str) {
    std::fs::write(
        repo.join("environments/bench.yaml"),
        format!(
            "workspaces:\n  primary: {{host: \"{primary}\", token_env: BENCH_TOKEN}}\n  secondary: {{host: \"{secondary}\", token_env: BENCH_TOKEN}}\nactive: primary\nvariables:\n  root: {{primary: abfss://lake@east, secondary: abfss://lake@west}}\n"
        ),
    )
    .expect("write env");
}

fn generate(root: &Path) {
    std::fs::create_dir_all(root.join("environments")).expect("mkdir");
    std::fs::create_dir_all(root.join("resources/jobs")).expect("mkdir");
    write_env(root, "http://127.0.0.1:9", "http://127.0.0.1:9");

    let mut compute = Resources::default();
    for p in 0..POOLS {
        compute
            .insert_json(
                Kind::InstancePools,
                format!("pool_{p}"),
                json!({
                    "instance_pool_name": format!("bench-pool-{p}"),
                    "node_type_id": "Standard_DS3_v2",
                    "min_idle_instances": 1,
                    "idle_instance_autotermination_minutes": 30,
                    "custom_tags": {"team": "data"},
                    "permissions": [{"group_name": GROUPS[p % 3], "level": "CAN_ATTACH_TO"}]
                }),
            )
            .expect("pool");
    }
    for c in 0..CLUSTERS {
        let mut spec = json!({
            "cluster_name": format!("bench-cluster-{c}"),
            "spark_version": "15.4.x-scala2.12",
            "autotermination_minutes": 60,
            "spark_conf": {"spark.speculation": "true"},
            "spark_env_vars": {"ROOT": "${var.root}"},
            "custom_tags": {"team": "data"},
            "permissions": [{"group_name": GROUPS[c % 3], "level": "CAN_RESTART"}]
        });
        if c % 2 == 0 {
            spec["instance_pool_id"] = json!(format!(
                "${{resources.instance_pools.pool_{}.id}}",
                (c / 2) % POOLS
            ));
            spec["num_workers"] = json!(2);
        } else {
            spec["node_type_id"] = json!("Standard_DS3_v2");
            spec["autoscale"] = json!({"min_workers": 1, "max_workers": 4});
        }
        compute
            .insert_json(Kind::Clusters, format!("cluster_{c}"), spec)
            .expect("cluster");
    }
    std::fs::write(
        root.join("resources/compute.yaml"),
        emit::to_yaml(&compute).expect("yaml"),
    )
    .expect("write");

    let per_file = JOBS / JOB_FILES;
    for f in 0..JOB_FILES {
        let mut jobs = Resources::default();
        for j in f * per_file..(f + 1) * per_file {
            let cluster = format!("${{resources.clusters.cluster_{}.id}}", j % CLUSTERS);
            let n_tasks = if j % 4 == 0 { 3 } else { 1 };
            let tasks: Vec<Value> = (0..n_tasks)
                .map(|t| {
                    let mut task = json!({
                        "task_key": format!("step_{t}"),
                        "existing_cluster_id": cluster,
                        "notebook_task": {
                            "notebook_path": format!("/Repos/etl/job_{j}/step_{t}"),
                            "base_parameters": {"root": "${var.root}"}
                        },
                        "timeout_seconds": 3600
                    });
                    if t > 0 {
                        task["depends_on"] = json!([{"task_key": format!("step_{}", t - 1)}]);
                    }
                    task
                })
                .collect();
            jobs.insert_json(
                Kind::Jobs,
                format!("job_{j}"),
                json!({
                    "name": format!("Bench job {j}"),
                    "max_concurrent_runs": 1,
                    "schedule": {"quartz_cron_expression": "0 0 2 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
                    "tags": {"team": "data", "tier": "gold"},
                    "email_notifications": {"on_failure": ["oncall@example.com"]},
                    "tasks": tasks,
                    "permissions": [
                        {"user_name": OWNERS[j % OWNERS.len()], "level": "IS_OWNER"},
                        {"group_name": GROUPS[j % GROUPS.len()], "level": "CAN_MANAGE_RUN"}
                    ]
                }),
            )
            .expect("job");
        }
        std::fs::write(
            root.join(format!("resources/jobs/jobs_{f:02}.yaml")),
            emit::to_yaml(&jobs).expect("yaml"),
        )
        .expect("write");
    }

    let mut secrets = Resources::default();
    for sc in 0..SCOPES {
        let keys: serde_json::Map<String, Value> = (0..SECRETS_PER_SCOPE)
            .map(|k| {
                (
                    format!("key_{k}"),
                    json!({"env": format!("BENCH_SECRET_{}", sc * SECRETS_PER_SCOPE + k)}),
                )
            })
            .collect();
        secrets
            .insert_json(
                Kind::SecretScopes,
                format!("scope_{sc}"),
                json!({
                    "name": format!("bench-scope-{sc}"),
                    "secrets": keys,
                    "acls": [{"principal": GROUPS[sc % GROUPS.len()], "permission": "READ"}]
                }),
            )
            .expect("scope");
    }
    std::fs::write(
        root.join("resources/secrets.yaml"),
        emit::to_yaml(&secrets).expect("yaml"),
    )
    .expect("write");
}

/// Scenario 7's repository: jobs whose configuration lists no permissions, nothing else.
fn generate_plain(root: &Path) {
    std::fs::create_dir_all(root.join("environments")).expect("mkdir");
    std::fs::create_dir_all(root.join("resources")).expect("mkdir");
    write_env(root, "http://127.0.0.1:9", "http://127.0.0.1:9");
    let mut jobs = Resources::default();
    for j in 0..PLAIN_JOBS {
        jobs.insert_json(
            Kind::Jobs,
            format!("job_{j}"),
            json!({
                "name": format!("Plain job {j}"),
                "max_concurrent_runs": 1,
                "schedule": {"quartz_cron_expression": "0 0 3 * * ?", "timezone_id": "UTC", "pause_status": "UNPAUSED"},
                "tags": {"team": "data"},
                "tasks": [{
                    "task_key": "main",
                    "notebook_task": {"notebook_path": format!("/Repos/etl/plain_{j}")},
                    "new_cluster": {"spark_version": "15.4.x-scala2.12", "node_type_id": "Standard_DS3_v2", "num_workers": 1}
                }]
            }),
        )
        .expect("job");
    }
    std::fs::write(
        root.join("resources/jobs.yaml"),
        emit::to_yaml(&jobs).expect("yaml"),
    )
    .expect("write");
}

// ---- running tandem ----------------------------------------------------------------------

#[derive(Clone)]
struct Tandem {
    binary: PathBuf,
    repo: PathBuf,
    /// `/usr/bin/time` is available (peak RSS from `-v`).
    time: bool,
    scratch: PathBuf,
}

struct RunResult {
    started_at: std::time::SystemTime,
    wall: Duration,
    code: i32,
    stdout: String,
    stderr: String,
    max_rss_kb: Option<u64>,
}

impl RunResult {
    fn expect_ok(self, what: &str) -> Self {
        assert!(
            self.code == 0,
            "{what} exited {}:\n{}\n{}",
            self.code,
            tail(&self.stdout, 20),
            tail(&self.stderr, 20)
        );
        self
    }
}

impl Tandem {
    /// Runs `tandem -C <repo> -e bench <args>`; stdout and stderr go to files (never a full pipe).
    fn run(&self, args: &[&str], log: Option<&str>) -> RunResult {
        let out_path = self.scratch.join("stdout.txt");
        let err_path = self.scratch.join("stderr.txt");
        let rss_path = self.scratch.join("time.txt");
        let _ = std::fs::remove_file(&rss_path);
        let repo = self.repo.display().to_string();
        let mut full: Vec<String> = vec!["-C".into(), repo, "-e".into(), "bench".into()];
        full.extend(args.iter().map(|a| a.to_string()));
        let mut command = if self.time {
            let mut c = Command::new("/usr/bin/time");
            c.arg("-v").arg("-o").arg(&rss_path).arg(&self.binary);
            c
        } else {
            Command::new(&self.binary)
        };
        command
            .args(&full)
            .env("BENCH_TOKEN", "dev")
            .env("NO_COLOR", "1")
            .env_remove("TANDEM_ENV")
            .env("TANDEM_LOG", log.unwrap_or("warn"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).expect("stdout file"))
            .stderr(std::fs::File::create(&err_path).expect("stderr file"));
        for i in 0..SCOPES * SECRETS_PER_SCOPE {
            command.env(format!("BENCH_SECRET_{i}"), format!("bench-value-{i}"));
        }
        let started_at = std::time::SystemTime::now();
        let start = Instant::now();
        let mut child = command.spawn().expect("run tandem");
        let mut polled: Option<u64> = None;
        let status = if self.time {
            child.wait().expect("wait")
        } else {
            // No /usr/bin/time: poll the high-water mark while the process lives (a lower bound).
            loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    break status;
                }
                if let Some(hwm) = vm_hwm(child.id()) {
                    polled = polled.max(Some(hwm));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        let wall = start.elapsed();
        let max_rss_kb = if self.time {
            std::fs::read_to_string(&rss_path).ok().and_then(|t| {
                t.lines()
                    .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
                    .and_then(|v| v.trim().parse().ok())
            })
        } else {
            polled
        };
        RunResult {
            started_at,
            wall,
            code: status.code().unwrap_or(-1),
            stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
            stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
            max_rss_kb,
        }
    }
}

fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---- emulators ---------------------------------------------------------------------------

/// A `tandem emulator` process; stopped with SIGTERM (its state is folded into the snapshot).
struct Emulator {
    child: Child,
    addr: String,
}

#[derive(Debug, Clone, Default)]
struct Stats {
    total: u64,
    routes: BTreeMap<String, u64>,
}

impl Stats {
    /// Requests other than GET.
    fn writes(&self) -> u64 {
        self.routes
            .iter()
            .filter(|(r, _)| !r.starts_with("GET"))
            .map(|(_, n)| n)
            .sum()
    }
}

impl Emulator {
    fn start(binary: &Path, state: &Path, latency_ms: u64, rate_limit: Option<u32>) -> Self {
        let mut command = Command::new(binary);
        command
            .args([
                "emulator",
                "--port",
                "0",
                "--latency-ms",
                &latency_ms.to_string(),
            ])
            .arg("--state")
            .arg(state)
            .env_remove("TANDEM_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(r) = rate_limit {
            command.args(["--rate-limit", &r.to_string()]);
        }
        let mut child = command.spawn().expect("start emulator");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        reader.read_line(&mut first).expect("url line");
        // Keep draining: the emulator prints more lines and must never write to a closed pipe.
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let url = first.trim().rsplit(' ').next().expect("url").to_string();
        let addr = url
            .strip_prefix("http://")
            .unwrap_or_else(|| panic!("unexpected emulator banner: {first}"))
            .to_string();
        Emulator { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn stats(&self) -> Stats {
        let v = admin(&self.addr, "GET", "/__emulator/stats");
        Stats {
            total: v["total"].as_u64().expect("total"),
            routes: v["routes"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn reset(&self) {
        admin(&self.addr, "DELETE", "/__emulator/stats");
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let termed = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .is_ok_and(|s| s.success());
        if !termed {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// One request to the emulator's admin API (HTTP/1.1 over a plain socket), with the emulator's
/// default token (the admin routes need one).
fn admin(addr: &str, method: &str, path: &str) -> Value {
    let mut stream = TcpStream::connect(addr).expect("connect to emulator");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer dev\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let (head, body) = answer.split_once("\r\n\r\n").expect("http answer");
    assert!(head.starts_with("HTTP/1.1 200"), "{method} {path}: {head}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))
}
