//! `serve`, the REST control plane, against real machines: the test fabfile's `serve` in a
//! subprocess on a free loopback port, driven over plain HTTP like a CI job would drive it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use dm::testing::Fleet;
use dm_tests::*;
use serde_json::{Value, json};

/// How long one HTTP exchange, or the wait for the next event of a job, may take.
const IO_LIMIT: Duration = Duration::from_secs(120);

/// A running `serve` of the test fabfile.
struct Server {
    /// The process (taken when a test ends it itself).
    child: Option<Child>,
    addr: String,
    /// Lines the server printed after it said where it listens.
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `serve` in the fleet's directory (database next to its dm.toml) on a free port
    /// and waits until it says where it listens.
    fn start(dir: &Path, envs: &[(&str, &str)]) -> Server {
        let mut dm = Dm::in_dir(dir).args(["serve", "--listen", "127.0.0.1:0"]);
        for (key, value) in envs {
            dm = dm.env(key, value);
        }
        Server::from_child(dm.spawn(), "http://")
    }

    /// Waits until the `serve` started as `child` says it listens on `scheme`ADDR.
    fn from_child(mut child: Child, scheme: &str) -> Server {
        let stdout = child.stdout.take().expect("stdout");
        // Drained so that a chatty server never blocks on a full pipe.
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || std::io::copy(&mut { stderr }, &mut std::io::sink()));
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let marker = format!("listening on {scheme}");
        loop {
            let line = lines
                .recv_timeout(IO_LIMIT)
                .unwrap_or_else(|_| panic!("serve never said where it listens"));
            if let Some(rest) = line.split(&marker).nth(1) {
                let addr = rest.split_whitespace().next().expect("address").to_string();
                return Server {
                    child: Some(child),
                    addr,
                    lines,
                };
            }
        }
    }

    /// `kill -9`: the server dies without a word, mid-whatever.
    fn kill(mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill -9 serve");
        child.wait().expect("reap serve");
    }

    /// SIGTERM, then waits for the server to end; returns its exit code.
    fn terminate(mut self) -> i32 {
        let child = self.child.take().expect("running");
        let pid = child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(sent.success());
        let args = vec!["serve".to_string()];
        let output = wait_with_deadline(child, IO_LIMIT, &args);
        let said: Vec<String> = self.lines.try_iter().collect();
        assert!(
            said.iter().any(|l| l.contains("stopping")),
            "serve said nothing of stopping: {said:?}"
        );
        output.status.code().unwrap_or(-1)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// One HTTP/1.0 exchange (the connection closes after the response, so the body is everything
/// that follows the headers): the status and the body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    stream.set_read_timeout(Some(IO_LIMIT)).unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let status = raw
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {raw:?}"));
    let body = raw
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// [`http`] expecting `status` and a JSON body.
fn call(
    server: &Server,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    status: u16,
) -> Value {
    let (got, text) = http(&server.addr, method, path, Some(token), body);
    assert_eq!(got, status, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
}

/// An open Server-Sent Events stream of a job.
struct EventStream {
    reader: BufReader<TcpStream>,
}

/// One event read from a stream: its id (none for the `end` event), type and data.
#[derive(Debug, Clone)]
struct SseEvent {
    id: Option<i64>,
    kind: String,
    data: Value,
}

impl EventStream {
    fn open(server: &Server, token: &str, job: i64, last_event_id: Option<i64>) -> EventStream {
        let mut stream = TcpStream::connect(&server.addr).unwrap();
        stream.set_read_timeout(Some(IO_LIMIT)).unwrap();
        let mut request = format!(
            "GET /v1/jobs/{job}/events HTTP/1.0\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\
             Accept: text/event-stream\r\n",
            server.addr
        );
        if let Some(id) = last_event_id {
            request.push_str(&format!("Last-Event-ID: {id}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "events of job {job}: {status}");
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header.trim().is_empty() {
                break;
            }
        }
        EventStream { reader }
    }

    /// The next event (keep-alive comments skipped); `None` when the stream ended.
    fn next(&mut self) -> Option<SseEvent> {
        let (mut id, mut kind, mut data) = (None, "message".to_string(), String::new());
        loop {
            let mut line = String::new();
            let read = self
                .reader
                .read_line(&mut line)
                .expect("read an event in time");
            if read == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if data.is_empty() {
                    continue;
                }
                return Some(SseEvent {
                    id,
                    kind,
                    data: serde_json::from_str(&data).expect("JSON data"),
                });
            }
            if let Some(v) = line.strip_prefix("id:") {
                id = Some(v.trim().parse().expect("numeric id"));
            } else if let Some(v) = line.strip_prefix("event:") {
                kind = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
    }

    /// Every event until the `end` event; returns them and the job's final status.
    fn rest(&mut self) -> (Vec<SseEvent>, String) {
        let mut events = Vec::new();
        while let Some(event) = self.next() {
            if event.kind == "end" {
                let status = event.data["status"].as_str().expect("status").to_string();
                return (events, status);
            }
            events.push(event);
        }
        panic!("the stream ended without an `end` event after {events:?}");
    }
}

/// Adds user `ci`, allowed to run everything, to the server's database in `dir` and returns a
/// new token of it.
fn token(dir: &Path) -> String {
    user_token(dir, "ci", &[("allow", "*:*")])
}

/// Adds `user` with permission `rules` (`("deny", "*:mark")`) and returns a new token of it.
fn user_token(dir: &Path, user: &str, rules: &[(&str, &str)]) -> String {
    Dm::in_dir(dir)
        .args(["serve", "user", "add", user])
        .run()
        .assert_success();
    for (effect, pattern) in rules {
        Dm::in_dir(dir)
            .args(["serve", "user", effect, user, pattern])
            .run()
            .assert_success();
    }
    let run = Dm::in_dir(dir)
        .args(["serve", "token", "create", user])
        .run();
    run.assert_success();
    run.stdout()
        .split_whitespace()
        .find(|w| w.starts_with("dm_"))
        .unwrap_or_else(|| panic!("no token printed:\n{}", run.describe()))
        .to_string()
}

/// Submits a run of `task` and returns the job's id.
fn submit(server: &Server, token: &str, task: &str, body: Value) -> i64 {
    let accepted = call(
        server,
        token,
        "POST",
        &format!("/v1/tasks/{task}/runs"),
        Some(&body),
        202,
    );
    assert_eq!(accepted["status"], "queued", "{accepted}");
    assert_eq!(
        accepted["links"]["events"],
        format!("/v1/jobs/{}/events", accepted["id"])
    );
    accepted["id"].as_i64().expect("job id")
}

/// Follows a job's events to its end; returns its final status.
fn wait_for_end(server: &Server, token: &str, job: i64) -> String {
    EventStream::open(server, token, job, None).rest().1
}

/// The `start`/`end` stamps the `stamp` task printed on `host`, from a job's events.
fn job_stamps(events: &[Value], host: &str) -> (f64, f64) {
    let value = |word: &str| -> f64 {
        events
            .iter()
            .filter(|e| e["kind"] == "output" && e["host"] == host)
            .find_map(|e| e["line"].as_str()?.strip_prefix(word)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no `{word}` stamp of {host} in {events:?}"))
    };
    (value("start "), value("end "))
}

fn fleet_dir(fleet: &Fleet) -> PathBuf {
    fleet.inventory_path().parent().expect("dir").to_path_buf()
}

#[test]
fn a_job_on_two_machines_runs_through_the_api_and_its_log_resumes_exactly() {
    let fleet = fleet(&[("app1", &["web"]), ("app2", &["web"])]);
    let dir = fleet_dir(&fleet);
    let token = token(&dir);
    let server = Server::start(&dir, &[]);

    // The task model: the same parameters the command line has.
    let stamp = call(&server, &token, "GET", "/v1/tasks/stamp", None, 200);
    assert_eq!(stamp["params"][0]["name"], "seconds");
    assert_eq!(stamp["params"][0]["type"], "number");
    assert_eq!(stamp["params"][0]["default"], "1");
    let tasks = call(&server, &token, "GET", "/v1/tasks", None, 200);
    let names: Vec<&str> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(
        names.contains(&"mark") && !names.contains(&"serve"),
        "{names:?}"
    );

    // The inventory as jobs see it.
    let servers = call(&server, &token, "GET", "/v1/servers", None, 200);
    let names: Vec<&str> = servers["servers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names, ["app1", "app2"], "{servers}");
    let roles = call(&server, &token, "GET", "/v1/roles", None, 200);
    assert!(
        roles["roles"].as_array().unwrap().contains(&json!("web")),
        "{roles}"
    );
    let text = call(
        &server,
        &token,
        "GET",
        "/v1/servers?environment=noenv",
        None,
        400,
    )
    .to_string();
    assert!(text.contains("noenv"), "{text}");

    let job = submit(
        &server,
        &token,
        "stamp",
        json!({"args": {"seconds": 2}, "roles": ["web"]}),
    );
    // Mid-job: read the first events, hang up, and come back with the last id seen.
    let mut first = EventStream::open(&server, &token, job, None);
    let mut seen = Vec::new();
    while seen.len() < 3 {
        seen.push(first.next().expect("an event"));
    }
    drop(first);
    assert!(
        seen.iter().any(|e| e.data["kind"] == "host_started"),
        "{seen:?}"
    );
    let running = call(
        &server,
        &token,
        "GET",
        &format!("/v1/jobs/{job}"),
        None,
        200,
    );
    assert_eq!(running["status"], "running", "{running}");
    let last = seen.last().and_then(|e| e.id).expect("ids");
    let (rest, status) = EventStream::open(&server, &token, job, Some(last)).rest();
    assert_eq!(status, "succeeded");
    seen.extend(rest);

    let done = call(
        &server,
        &token,
        "GET",
        &format!("/v1/jobs/{job}?results=true"),
        None,
        200,
    );
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["user"], "ci");
    let (created, started, finished) = (
        done["created_at"].as_i64().unwrap(),
        done["started_at"].as_i64().unwrap(),
        done["finished_at"].as_i64().unwrap(),
    );
    assert!(created <= started && started <= finished, "{done}");
    let stored: Vec<&Value> = done["events"].as_array().unwrap().iter().collect();
    // Every event exactly once, in order, across the reconnect.
    let ids: Vec<i64> = seen.iter().map(|e| e.id.expect("id")).collect();
    let expected: Vec<i64> = (1..=stored.len() as i64).collect();
    assert_eq!(ids, expected, "the stream across a reconnect");
    for (streamed, stored) in seen.iter().zip(&stored) {
        assert_eq!(streamed.data, stored["data"]);
    }
    let events: Vec<Value> = stored.iter().map(|e| e["data"].clone()).collect();
    for host in ["app1", "app2"] {
        job_stamps(&events, host);
        let report = done["report"]["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["host"] == host)
            .expect("host");
        assert_eq!(report["status"], "ok", "{report}");
        assert!(!report["output"].as_array().unwrap().is_empty(), "{report}");
    }
    // Polling instead of a stream: the events after N.
    let polled = call(
        &server,
        &token,
        "GET",
        &format!("/v1/jobs/{job}/events?after=2"),
        None,
        200,
    );
    assert_eq!(polled["events"][0]["seq"], 3);
    assert_eq!(polled["events"].as_array().unwrap().len(), stored.len() - 2);

    // Two runs on one environment: queued, the second starts after the first ended.
    let one = submit(
        &server,
        &token,
        "stamp",
        json!({"args": {"seconds": 1}, "hosts": ["app1"]}),
    );
    let two = submit(
        &server,
        &token,
        "stamp",
        json!({"args": {"seconds": 1}, "hosts": ["app1"]}),
    );
    assert_eq!(wait_for_end(&server, &token, two), "succeeded");
    let [one, two] = [one, two].map(|id| {
        call(
            &server,
            &token,
            "GET",
            &format!("/v1/jobs/{id}?results=true"),
            None,
            200,
        )
    });
    assert_eq!(one["status"], "succeeded");
    assert!(
        two["started_at"].as_i64() >= one["finished_at"].as_i64(),
        "{one}\n{two}"
    );
    let log = |job: &Value| -> Vec<Value> {
        job["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["data"].clone())
            .collect()
    };
    let (_, first_end) = job_stamps(&log(&one), "app1");
    let (second_start, _) = job_stamps(&log(&two), "app1");
    assert!(
        second_start >= first_end,
        "the second run started on the host before the first ended"
    );

    // Refusals name what is wrong, and queue nothing.
    let before = call(&server, &token, "GET", "/v1/jobs", None, 200)["jobs"]
        .as_array()
        .unwrap()
        .len();
    let refused = |path: &str, body: Value, status: u16| -> String {
        call(&server, &token, "POST", path, Some(&body), status).to_string()
    };
    let text = refused("/v1/tasks/stmp/runs", json!({}), 404);
    assert!(
        text.contains("no task `stmp`") && text.contains("did you mean `stamp`"),
        "{text}"
    );
    let text = refused(
        "/v1/tasks/mark/runs",
        json!({"args": {"count": "many", "colour": 1}}),
        400,
    );
    for part in [
        "missing argument `name`",
        "argument `count`: invalid value 'many'",
        "unknown argument `colour`",
    ] {
        assert!(text.contains(part), "{part}: {text}");
    }
    let text = refused("/v1/tasks/stamp/runs", json!({"hosts": ["nosuch"]}), 400);
    assert!(text.contains("nosuch"), "{text}");
    let text = refused("/v1/tasks/stamp/runs", json!({"roles": ["norole"]}), 400);
    assert!(text.contains("norole"), "{text}");
    let text = refused("/v1/tasks/stamp/runs", json!({"environment": "noenv"}), 400);
    assert!(text.contains("noenv"), "{text}");
    let text = refused("/v1/tasks/stamp/runs", json!({"host": ["app1"]}), 400);
    assert!(text.contains("unknown field `host`"), "{text}");
    // Permissions: deny wins and is named; without an allowing rule nothing runs; reading
    // needs a valid token only.
    let ops = user_token(&dir, "ops", &[("allow", "*:*"), ("deny", "*:mark")]);
    let reader = user_token(&dir, "reader", &[]);
    let mark = json!({"args": {"name": "denied"}});
    let text = call(
        &server,
        &ops,
        "POST",
        "/v1/tasks/mark/runs",
        Some(&mark),
        403,
    )
    .to_string();
    assert!(text.contains("refused by rule `deny *:mark`"), "{text}");
    let text = call(
        &server,
        &reader,
        "POST",
        "/v1/tasks/stamp/runs",
        Some(&json!({})),
        403,
    )
    .to_string();
    assert!(text.contains("no rule allows `*:stamp`"), "{text}");
    call(
        &server,
        &reader,
        "GET",
        &format!("/v1/jobs/{job}"),
        None,
        200,
    );
    let text = call(
        &server,
        &reader,
        "POST",
        &format!("/v1/jobs/{job}/cancel"),
        None,
        403,
    )
    .to_string();
    assert!(text.contains("reader may not run stamp"), "{text}");
    let after = call(&server, &token, "GET", "/v1/jobs", None, 200)["jobs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(before, after, "a refused request queued a job");
    let (status, text) = http(&server.addr, "GET", "/v1/jobs/999999", Some(&token), None);
    assert_eq!(
        (status, text.contains("no job 999999")),
        (404, true),
        "{text}"
    );

    // Without a valid token: 401, and nothing else is said.
    let (status, text) = http(
        &server.addr,
        "POST",
        "/v1/tasks/stamp/runs",
        None,
        Some(&json!({})),
    );
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("no API token"), "{text}");
    // The same token with its last digit changed.
    let last = if token.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    let (status, text) = http(&server.addr, "GET", "/v1/jobs", Some(&forged), None);
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("not valid"), "{text}");
    // The audit log is for admins only, and holds the refused requests too.
    let text = call(&server, &token, "GET", "/v1/audit", None, 403).to_string();
    assert!(text.contains("only admins may"), "{text}");
    Dm::in_dir(&dir)
        .args(["serve", "user", "admin", "ci"])
        .run()
        .assert_success();
    let audit = call(&server, &token, "GET", "/v1/audit", None, 200);
    let statuses: Vec<i64> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["status"].as_i64())
        .collect();
    assert!(
        [202, 400, 401, 403, 404]
            .iter()
            .all(|s| statuses.contains(s)),
        "{audit}"
    );

    // Cancel: a queued job never starts; a running one stops in two stages, like Ctrl-C twice.
    let long = submit(
        &server,
        &token,
        "stamp",
        json!({"args": {"seconds": 600}, "hosts": ["app1"]}),
    );
    let never = submit(
        &server,
        &token,
        "mark",
        json!({"args": {"name": "never"}, "hosts": ["app1"]}),
    );
    let cancel = |job: i64| {
        call(
            &server,
            &token,
            "POST",
            &format!("/v1/jobs/{job}/cancel"),
            None,
            202,
        )
    };
    let before_start = cancel(never);
    assert_eq!(before_start["status"], "cancelled", "{before_start}");
    let mut stream = EventStream::open(&server, &token, long, None);
    while stream.next().expect("an event").data["kind"] != "output" {}
    assert_eq!(cancel(long)["status"], "cancelling");
    assert!(cancel(long)["cancel"].as_str().unwrap().contains("aborted"));
    let (rest, status) = stream.rest();
    assert_eq!(status, "cancelled", "{rest:?}");
    assert!(
        rest.iter().any(|e| e.data["kind"] == "interrupted"),
        "{rest:?}"
    );
    let (status, text) = http(
        &server.addr,
        "POST",
        &format!("/v1/jobs/{long}/cancel"),
        Some(&token),
        None,
    );
    assert_eq!(status, 409, "{text}");
    let marker = fleet
        .machine("app1")
        .exec("test -e /tmp/dm-mark-never")
        .unwrap();
    assert!(!marker.status.success(), "the cancelled job ran");

    // A revoked token stops working.
    let id = token.split('_').nth(1).unwrap();
    Dm::in_dir(&dir)
        .args(["serve", "token", "revoke", id])
        .run()
        .assert_success();
    let (status, text) = http(&server.addr, "GET", "/v1/jobs", Some(&token), None);
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("revoked"), "{text}");
    assert_eq!(server.terminate(), 0, "serve ends cleanly on SIGTERM");
}

const SECRET: &str = "Serve-secret-9q7w2e";

#[test]
fn a_secret_a_job_uses_reaches_neither_the_database_nor_a_response() {
    let fleet = fleet(&[("app1", &[])]);
    let dir = fleet_dir(&fleet);
    write(
        &dir.join("dm.toml"),
        &format!(
            "{}\n[environments.production]\nservers = [\"app1\"]\n",
            fleet.inventory_toml()
        ),
    );
    let key = init_secrets(&dir, "production");
    set_secret(&dir, &key, "production", "postgres_password", SECRET);
    let token = token(&dir);
    let server = Server::start(&dir, &[("DM_AGE_IDENTITY", key.to_str().unwrap())]);
    let job = submit(
        &server,
        &token,
        "secret-file",
        json!({"args": {"path": "/root/db.conf"}, "environment": "production", "hosts": ["app1"]}),
    );
    let (events, status) = EventStream::open(&server, &token, job, None).rest();
    assert_eq!(status, "succeeded", "{events:?}");
    let mut responses = format!("{events:?}");
    for path in [
        format!("/v1/jobs/{job}?results=true"),
        "/v1/jobs".into(),
        format!("/v1/jobs/{job}/events?after=0"),
    ] {
        responses.push_str(&http(&server.addr, "GET", &path, Some(&token), None).1);
    }
    assert!(responses.contains("with password ********"), "{responses}");
    assert!(
        !responses.contains(SECRET),
        "a response holds the secret:\n{responses}"
    );
    assert_eq!(
        fleet.machine("app1").exec_ok("cat /root/db.conf"),
        format!("password={SECRET}\nfrom_vars={SECRET}\n"),
        "the job did its work with the secret"
    );
    assert_eq!(server.terminate(), 0);
    // The database and its write-ahead log, byte for byte.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("dm-serve.sqlite")
        {
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
            assert!(!found, "{} holds the secret", path.display());
        }
    }
}

#[test]
fn a_job_running_when_serve_is_killed_is_interrupted_with_its_log_and_the_queue_goes_on() {
    let fleet = fleet(&[("app1", &[])]);
    let dir = fleet_dir(&fleet);
    let token = token(&dir);
    let server = Server::start(&dir, &[]);
    let long = submit(&server, &token, "stamp", json!({"args": {"seconds": 600}}));
    let next = submit(
        &server,
        &token,
        "mark",
        json!({"args": {"name": "after-restart"}}),
    );
    let mut stream = EventStream::open(&server, &token, long, None);
    // The host's first output line says the task runs there.
    while stream.next().expect("an event").data["kind"] != "output" {}
    server.kill();

    let server = Server::start(&dir, &[]);
    let job = call(
        &server,
        &token,
        "GET",
        &format!("/v1/jobs/{long}?results=true"),
        None,
        200,
    );
    assert_eq!(job["status"], "interrupted", "{job}");
    let kinds: Vec<&str> = job["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["data"]["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"output") && kinds.last() == Some(&"job_interrupted"),
        "{kinds:?}"
    );
    assert_eq!(wait_for_end(&server, &token, next), "succeeded");
    assert_eq!(
        fleet
            .machine("app1")
            .exec_ok("cat /tmp/dm-mark-after-restart")
            .trim(),
        "1"
    );
}

#[test]
fn serve_listens_beyond_loopback_only_with_tls_or_a_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(&dir.join("dm.toml"), "");
    let run = Dm::in_dir(dir)
        .args(["serve", "--listen", "0.0.0.0:2718"])
        .run();
    run.assert_code(2);
    run.assert_output_contains("refusing to listen on 0.0.0.0:2718 without TLS");
    run.assert_output_contains("--behind-proxy");
    let run = Dm::in_dir(dir)
        .args([
            "serve",
            "--tls-cert",
            "nosuch.pem",
            "--tls-key",
            "nosuch.key",
        ])
        .run();
    run.assert_code(2);
    run.assert_output_contains("--tls-cert nosuch.pem");

    // With a certificate: HTTPS, and nothing in clear.
    let openssl = std::process::Command::new("openssl")
        .current_dir(dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "1",
            "-subj",
            "/CN=serve-test",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .output()
        .expect("openssl");
    assert!(openssl.status.success(), "{openssl:?}");
    let token = token(dir);
    let dm = Dm::in_dir(dir).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "cert.pem",
        "--tls-key",
        "key.pem",
    ]);
    let server = Server::from_child(dm.spawn(), "https://");
    let curl = std::process::Command::new("curl")
        .current_dir(dir)
        .args(["-sS", "--max-time", "60", "--cacert", "cert.pem", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("https://{}/v1/tasks/stamp", server.addr))
        .output()
        .expect("curl");
    let body = String::from_utf8_lossy(&curl.stdout);
    assert!(body.contains("\"name\":\"stamp\""), "{curl:?}");
    let (status, _) = http_status_or_error(&server.addr);
    assert_ne!(
        status,
        Some(200),
        "plain HTTP must not be answered on the TLS port"
    );
    assert_eq!(server.terminate(), 0);
}

/// The status of a plain-HTTP request, `None` when the server answered no HTTP at all.
fn http_status_or_error(addr: &str) -> (Option<u16>, String) {
    let attempt = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(IO_LIMIT))?;
        stream.write_all(b"GET /v1/tasks HTTP/1.0\r\n\r\n")?;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        Ok(String::from_utf8_lossy(&raw).into_owned())
    };
    let raw = attempt().unwrap_or_else(|e| e.to_string());
    let status = raw
        .strip_prefix("HTTP/")
        .and_then(|r| r.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok());
    (status, raw)
}

#[test]
fn refused_tokens_from_one_address_are_slowed_down_with_a_429() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(&dir.join("dm.toml"), "");
    let token = token(dir);
    let server = Server::start(dir, &[]);
    let last = if token.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{last}", &token[..token.len() - 1]);
    // Ten refused tokens are each a 401...
    for attempt in 1..=10 {
        let (status, text) = http(&server.addr, "GET", "/v1/jobs", Some(&forged), None);
        assert_eq!(status, 401, "attempt {attempt}: {text}");
    }
    // ...then the address waits, whatever it presents, and is told how long.
    for presented in [&forged, &token] {
        let mut stream = TcpStream::connect(&server.addr).unwrap();
        stream.set_read_timeout(Some(IO_LIMIT)).unwrap();
        stream
            .write_all(
                format!("GET /v1/jobs HTTP/1.0\r\nAuthorization: Bearer {presented}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        assert!(raw.starts_with("HTTP/1.0 429"), "{raw}");
        assert!(raw.contains("too many refused API tokens"), "{raw}");
        let retry_after: u64 = raw
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("retry-after: ")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("no Retry-After in {raw}"));
        assert!((1..=60).contains(&retry_after), "{raw}");
    }
    assert_eq!(server.terminate(), 0);
}
