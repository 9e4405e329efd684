//! The fake's Hetzner Cloud endpoints: `/v1/servers`, `/v1/servers/{id}`,
//! `/v1/servers/{id}/actions/poweron`, `/v1/actions/{id}`, `/v1/ssh_keys`.
//!
//! Status codes as documented: `invalid_input` 400 with `details.fields`, `uniqueness_error` 409,
//! `not_found` 404; a create answers 201 `{server, action, next_actions, root_password}`, a power
//! on 201 `{action}` (command `start_server`), after which the server is `starting`; a delete
//! 200 `{action}` (command `delete_server`), the server `deleting` until the action succeeds.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{
    ActionState, Answer, Api, FakeAction, FakeKey, FakeServer, Request, Stall, World, look,
    paginate, stall_forever,
};

const SERVER_TYPES: &[&str] = &["cx22", "cx32", "cpx11", "cax11"];

fn error(status: u16, code: &str, message: &str) -> Answer {
    super::error(Api::Hetzner, status, code, message)
}

fn invalid_input(field: &str, why: &str) -> Answer {
    Answer::json(
        400,
        json!({"error": {
            "code": "invalid_input",
            "message": format!("invalid input in field '{field}'"),
            "details": {"fields": [{"name": field, "messages": [why]}]}
        }}),
    )
}

pub async fn route(world: &Arc<Mutex<World>>, req: Request) -> Answer {
    let path = req.path.trim_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["servers"]) => list(world, &req),
        ("POST", ["servers"]) => create(world, &req).await,
        ("GET", ["servers", id]) => get(world, id),
        ("DELETE", ["servers", id]) => delete(world, id),
        ("POST", ["servers", id, "actions", "poweron"]) => power_on(world, id),
        ("GET", ["actions", id]) => get_action(world, id),
        ("GET", ["servers", id, "actions"]) => server_actions(world, id, &req),
        ("GET", ["ssh_keys"]) => list_keys(world, &req),
        ("POST", ["ssh_keys"]) => create_key(world, &req),
        _ => error(404, "not_found", "not found"),
    }
}

fn server_json(s: &FakeServer, running: bool) -> Value {
    json!({
        "id": s.id,
        "name": s.name,
        "status": if s.deleting.is_some() {
            "deleting"
        } else if s.off {
            "off"
        } else if running {
            "running"
        } else if s.power_ons > 0 {
            "starting"
        } else {
            "initializing"
        },
        "created": "2026-05-01T10:00:00+00:00",
        "public_net": {
            "ipv4": {"id": s.id + 50_000, "ip": s.public_ip, "blocked": false, "dns_ptr": "static.1.0.0.127.clients.your-server.de"},
            "ipv6": null,
            "floating_ips": [],
            "firewalls": []
        },
        "private_net": [{"network": 4711, "ip": format!("10.0.{}.{}", s.id / 250 % 250, s.id % 250 + 2), "alias_ips": [], "mac_address": "86:00:00:2a:7d:e0"}],
        "server_type": {"name": s.request["server_type"]},
        "image": {"name": s.request["image"]},
        "datacenter": {"location": {"name": s.request["location"]}},
        "labels": s.labels,
        "protection": {"delete": false, "rebuild": false},
    })
}

fn meta(page: u64, per_page: u64, last: u64, total: usize) -> Value {
    json!({"pagination": {
        "page": page,
        "per_page": per_page,
        "previous_page": if page > 1 { Value::from(page - 1) } else { Value::Null },
        "next_page": if page < last { Value::from(page + 1) } else { Value::Null },
        "last_page": last,
        "total_entries": total,
    }})
}

/// `k=v`, `k` (present), comma-separated (all must hold).
fn matches(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    selector
        .split(',')
        .filter(|s| !s.is_empty())
        .all(|cond| match cond.split_once('=') {
            Some((k, v)) => labels.get(k).map(String::as_str) == Some(v),
            None => labels.contains_key(cond),
        })
}

fn list(world: &Arc<Mutex<World>>, req: &Request) -> Answer {
    let mut w = world.lock().unwrap();
    let n = w.polls_until_running;
    let selector = req.query.get("label_selector").cloned().unwrap_or_default();
    let name = req.query.get("name").cloned();
    let mut all = Vec::new();
    for s in w.servers.values_mut() {
        if matches(&selector, &s.labels) && name.as_ref().is_none_or(|n| *n == s.name) {
            let running = look(s, n);
            all.push(server_json(s, running));
        }
    }
    let (items, page, per_page, last) = paginate(&all, &req.query, w.max_page_size);
    Answer::json(
        200,
        json!({"servers": items, "meta": meta(page, per_page, last, all.len())}),
    )
}

async fn create(world: &Arc<Mutex<World>>, req: &Request) -> Answer {
    let b = &req.body;
    for field in ["name", "server_type", "image"] {
        if !b[field].is_string() {
            return invalid_input(field, "is required");
        }
    }
    let name = b["name"].as_str().unwrap_or_default().to_string();
    let server_type = b["server_type"].as_str().unwrap_or_default();
    if !SERVER_TYPES.contains(&server_type) {
        return invalid_input(
            "server_type",
            &format!("server type {server_type} not found"),
        );
    }
    let stall = {
        let mut w = world.lock().unwrap();
        w.create_requests += 1;
        if w.servers.values().any(|s| s.name == name) {
            return Answer::json(
                409,
                json!({"error": {"code": "uniqueness_error", "message": "server name is already used", "details": {"fields": [{"name": "name"}]}}}),
            );
        }
        if let Some(ids) = b["ssh_keys"].as_array() {
            for id in ids {
                let known = w
                    .keys
                    .iter()
                    .any(|k| id.as_u64() == Some(k.id) || id.as_str() == Some(k.name.as_str()));
                if !known {
                    return invalid_input("ssh_keys", &format!("ssh key {id} not found"));
                }
            }
        }
        w.stall
    };
    if stall == Some(Stall::BeforeStore) {
        return stall_forever().await;
    }
    let server = {
        let mut w = world.lock().unwrap();
        w.next_id += 1;
        let labels: BTreeMap<String, String> = b["labels"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let server = FakeServer {
            id: w.next_id,
            name,
            polls: 0,
            request: b.clone(),
            labels,
            tags: Vec::new(),
            off: false,
            power_ons: 0,
            public_ip: w.public_ip.clone(),
            deleting: None,
        };
        w.servers.insert(server.id, server.clone());
        server
    };
    if stall == Some(Stall::AfterStore) {
        return stall_forever().await;
    }
    Answer::json(
        201,
        json!({
            "server": server_json(&server, false),
            "action": {"id": server.id + 90_000, "command": "create_server", "status": "running", "progress": 0, "started": "2026-05-01T10:00:00+00:00", "finished": null, "resources": [{"id": server.id, "type": "server"}], "error": null},
            "next_actions": [],
            "root_password": null,
        }),
    )
}

fn get(world: &Arc<Mutex<World>>, id: &str) -> Answer {
    let mut w = world.lock().unwrap();
    let n = w.polls_until_running;
    let found = id.parse::<u64>().ok().and_then(|id| w.servers.get_mut(&id));
    match found {
        Some(s) => {
            let running = look(s, n);
            Answer::json(200, json!({"server": server_json(s, running)}))
        }
        None => error(
            404,
            "not_found",
            &format!("server with ID '{id}' not found"),
        ),
    }
}

/// The action as the API documents it: `running` → `success` | `error` (with `{code, message}`).
fn action_json(a: &FakeAction) -> Value {
    let (status, progress, finished) = match a.state {
        ActionState::Running => ("running", 0, Value::Null),
        ActionState::Succeeded => ("success", 100, "2026-05-01T11:00:05+00:00".into()),
        ActionState::Failed => ("error", 100, "2026-05-01T11:00:05+00:00".into()),
    };
    let error = match (&a.fails, a.state) {
        (Some(message), ActionState::Failed) => {
            json!({"code": "action_failed", "message": message})
        }
        _ => Value::Null,
    };
    json!({
        "id": a.id,
        "command": a.command,
        "status": status,
        "progress": progress,
        "started": "2026-05-01T11:00:00+00:00",
        "finished": finished,
        "resources": [{"id": a.server, "type": "server"}],
        "error": error,
    })
}

/// `DELETE /servers/{id}`: starts a `delete_server` action; the server stays, `deleting`, until it
/// succeeds. While it runs the server is `locked` (423), as for any running action.
fn delete(world: &Arc<Mutex<World>>, id: &str) -> Answer {
    let mut w = world.lock().unwrap();
    let Some(server) = id
        .parse::<u64>()
        .ok()
        .filter(|id| w.servers.contains_key(id))
    else {
        return error(
            404,
            "not_found",
            &format!("server with ID '{id}' not found"),
        );
    };
    if w.servers.get(&server).is_some_and(|s| s.deleting.is_some()) {
        return error(
            423,
            "locked",
            "server is locked, because there is already an action running",
        );
    }
    let action = w.start_action("delete_server", server, false);
    if let Some(s) = w.servers.get_mut(&server) {
        s.deleting = Some(action);
    }
    Answer::json(200, json!({"action": action_json(&w.actions[&action])}))
}

/// `GET /servers/{id}/actions?status=...`: the server's actions as they are (not advanced).
fn server_actions(world: &Arc<Mutex<World>>, id: &str, req: &Request) -> Answer {
    let w = world.lock().unwrap();
    let Some(server) = id
        .parse::<u64>()
        .ok()
        .filter(|id| w.servers.contains_key(id))
    else {
        return error(
            404,
            "not_found",
            &format!("server with ID '{id}' not found"),
        );
    };
    let wanted = req.query.get("status").cloned();
    let all: Vec<Value> = w
        .actions
        .values()
        .filter(|a| a.server == server)
        .map(action_json)
        .filter(|a| wanted.as_ref().is_none_or(|s| a["status"] == s.as_str()))
        .collect();
    let (items, page, per_page, last) = paginate(&all, &req.query, w.max_page_size);
    Answer::json(
        200,
        json!({"actions": items, "meta": meta(page, per_page, last, all.len())}),
    )
}

/// `GET /actions/{id}`: the action, one look further on.
fn get_action(world: &Arc<Mutex<World>>, id: &str) -> Answer {
    let mut w = world.lock().unwrap();
    match id.parse::<u64>().ok().and_then(|id| w.look_at_action(id)) {
        Some(a) => Answer::json(200, json!({"action": action_json(&a)})),
        None => error(
            404,
            "not_found",
            &format!("action with ID '{id}' not found"),
        ),
    }
}

/// `POST /servers/{id}/actions/poweron`: takes no parameters; a server that is on stays as it is
/// (the action succeeds at once).
fn power_on(world: &Arc<Mutex<World>>, id: &str) -> Answer {
    let mut w = world.lock().unwrap();
    let Some(s) = id.parse::<u64>().ok().and_then(|id| w.servers.get_mut(&id)) else {
        return error(
            404,
            "not_found",
            &format!("server with ID '{id}' not found"),
        );
    };
    let was_off = s.off;
    if was_off {
        s.off = false;
        s.power_ons += 1;
        s.polls = 0;
    }
    let server = s.id;
    let action = w.start_action("start_server", server, !was_off);
    Answer::json(201, json!({"action": action_json(&w.actions[&action])}))
}

fn key_json(k: &FakeKey) -> Value {
    json!({"id": k.id, "name": k.name, "fingerprint": format!("b7:2f:30:a0:{:02x}", k.id % 256), "public_key": k.public_key, "labels": {}, "created": "2026-05-01T10:00:00+00:00"})
}

fn list_keys(world: &Arc<Mutex<World>>, req: &Request) -> Answer {
    let w = world.lock().unwrap();
    let all: Vec<Value> = w.keys.iter().map(key_json).collect();
    let (items, page, per_page, last) = paginate(&all, &req.query, w.max_page_size);
    Answer::json(
        200,
        json!({"ssh_keys": items, "meta": meta(page, per_page, last, all.len())}),
    )
}

fn create_key(world: &Arc<Mutex<World>>, req: &Request) -> Answer {
    let (Some(name), Some(public_key)) =
        (req.body["name"].as_str(), req.body["public_key"].as_str())
    else {
        return invalid_input("public_key", "is required");
    };
    let mut w = world.lock().unwrap();
    let material = |k: &str| k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    if w.keys
        .iter()
        .any(|k| k.name == name || material(&k.public_key) == material(public_key))
    {
        return Answer::json(
            409,
            json!({"error": {"code": "uniqueness_error", "message": "SSH key with the same fingerprint already exists", "details": {"fields": [{"name": "public_key"}]}}}),
        );
    }
    w.next_id += 1;
    let key = FakeKey {
        id: w.next_id,
        name: name.to_string(),
        public_key: public_key.to_string(),
    };
    w.keys.push(key.clone());
    Answer::json(201, json!({"ssh_key": key_json(&key)}))
}
