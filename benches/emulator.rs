//! `cargo bench --bench emulator`: requests per second the emulator serves for a jobs get/list
//! mix (80 % get, 20 % list of 25 with tasks) with latency 0, from 32 concurrent connections.
//! The emulator runs as its own process (`tandem emulator`); client and server share the
//! machine's cores. Target: ≥ 5,000 requests/s on 2 cores.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::json;

const JOBS: usize = 500;
const CONNECTIONS: usize = 32;
const REQUESTS: usize = 60_000;

fn main() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["emulator", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start emulator");
    let stdout = child.stdout.take().expect("stdout");
    let mut first = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut first)
        .expect("url line");
    let url = first.trim().rsplit(' ').next().expect("url").to_string();

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (elapsed, errors) = runtime.block_on(async {
        let http = reqwest::Client::builder().pool_max_idle_per_host(CONNECTIONS).build().expect("client");
        let mut ids = Vec::new();
        for i in 0..JOBS {
            let body = json!({"name": format!("job-{i}"), "tasks": [{"task_key": "a", "notebook_task": {"notebook_path": "/x"}}, {"task_key": "b", "depends_on": [{"task_key": "a"}], "notebook_task": {"notebook_path": "/y"}}]});
            let created: serde_json::Value = http.post(format!("{url}/api/2.2/jobs/create")).bearer_auth("dev").json(&body).send().await.expect("create").json().await.expect("json");
            ids.push(created["job_id"].as_i64().expect("job id"));
        }
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            let (http, url, ids) = (http.clone(), url.clone(), ids.clone());
            tasks.push(tokio::spawn(async move {
                let mut errors = 0usize;
                for n in 0..REQUESTS / CONNECTIONS {
                    let i = c * 7919 + n * 104_729;
                    let path = if i % 5 == 0 {
                        "/api/2.2/jobs/list?limit=25&expand_tasks=true".to_string()
                    } else {
                        format!("/api/2.2/jobs/get?job_id={}", ids[i % ids.len()])
                    };
                    match http.get(format!("{url}{path}")).bearer_auth("dev").send().await {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                        }
                        _ => errors += 1,
                    }
                }
                errors
            }));
        }
        let mut errors = 0;
        for t in tasks {
            errors += t.await.expect("task");
        }
        (started.elapsed(), errors)
    });
    let _ = child.kill();
    let _ = child.wait();
    let served = (REQUESTS / CONNECTIONS) * CONNECTIONS;
    let rate = served as f64 / elapsed.as_secs_f64();
    println!(
        "emulator benchmark: {served} requests (80% jobs/get, 20% jobs/list limit 25 expand_tasks) over {CONNECTIONS} connections, {JOBS} jobs"
    );
    println!(
        "  elapsed {:.2} s, {:.0} requests/s, {errors} errors (target ≥ 5000 requests/s)",
        elapsed.as_secs_f64(),
        rate
    );
    assert_eq!(errors, 0);
}
