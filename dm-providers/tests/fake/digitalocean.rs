//! The fake's DigitalOcean endpoints: `/v2/droplets`, `/v2/droplets/{id}`,
//! `/v2/droplets/{id}/actions` (`power_on`), `/v2/actions/{id}`, `/v2/account/keys` and the
//! Domains API
//! `/v2/domains/{domain}/records[/{id}]`.
//!
//! As documented: a create answers 202 `{droplet, links}`, a delete 204 without a body, a droplet
//! action 201 `{action}`, invalid input 422 `{"id": "unprocessable_entity", "message": ...}`,
//! lists paginate with `links.pages.next` and `meta.total`. A new droplet has no addresses until
//! it is active; one that is powered off keeps them, and stays `off` until active again. A
//! deleted droplet is there (its status unchanged, as DigitalOcean has no status for it) until
//! its hidden `destroy` action, advanced by looks at the droplet, succeeds.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::{
    ActionState, Answer, Api, FakeAction, FakeKey, FakeRecord, FakeServer, Request, Stall, World,
    look, paginate, stall_forever,
};

const SIZES: &[&str] = &["s-1vcpu-1gb", "s-1vcpu-2gb", "s-2vcpu-4gb"];

fn error(status: u16, id: &str, message: &str) -> Answer {
    super::error(Api::DigitalOcean, status, id, message)
}

fn unprocessable(message: &str) -> Answer {
    error(422, "unprocessable_entity", message)
}

fn not_found() -> Answer {
    error(
        404,
        "not_found",
        "The resource you were accessing could not be found.",
    )
}

pub async fn route(world: &Arc<Mutex<World>>, req: Request) -> Answer {
    let path = req.path.trim_matches('/').to_string();
    let segments: Vec<&str> = path.split('/').collect();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["droplets"]) => list(world, &req),
        ("POST", ["droplets"]) => create(world, &req).await,
        ("GET", ["droplets", id]) => get(world, id),
        ("DELETE", ["droplets", id]) => delete(world, id),
        ("POST", ["droplets", id, "actions"]) => action(world, id, &req),
        ("GET", ["actions", id]) => get_action(world, id),
        ("GET", ["account", "keys"]) => list_keys(world, &req),
        ("POST", ["account", "keys"]) => create_key(world, &req),
        ("GET", ["domains", domain, "records"]) => list_records(world, domain, &req),
        ("POST", ["domains", domain, "records"]) => create_record(world, domain, &req),
        ("PUT", ["domains", domain, "records", id]) => update_record(world, domain, id, &req),
        ("DELETE", ["domains", domain, "records", id]) => delete_record(world, domain, id),
        _ => not_found(),
    }
}

fn droplet_json(s: &FakeServer, active: bool) -> Value {
    let v4 = if active || s.off || s.power_ons > 0 {
        json!([
            {"ip_address": s.public_ip, "netmask": "255.255.240.0", "gateway": "127.0.0.254", "type": "public"},
            {"ip_address": format!("10.110.{}.{}", s.id / 250 % 250, s.id % 250 + 2), "netmask": "255.255.0.0", "gateway": "10.110.0.1", "type": "private"}
        ])
    } else {
        json!([])
    };
    json!({
        "id": s.id,
        "name": s.name,
        "memory": 1024,
        "vcpus": 1,
        "disk": 25,
        "locked": false,
        "status": if s.off || (!active && s.power_ons > 0) {
            "off"
        } else if active {
            "active"
        } else {
            "new"
        },
        "created_at": "2026-05-01T10:00:00Z",
        "networks": {"v4": v4, "v6": []},
        "region": {"slug": s.request["region"]},
        "size_slug": s.request["size"],
        "tags": s.tags,
        "vpc_uuid": "5a4981aa-9653-4bd1-bef5-d6bff52042e4",
    })
}

/// `links` and `meta` of a page, as the API sends them.
fn page_links(kind: &str, page: u64, per_page: u64, last: u64, total: usize) -> (Value, Value) {
    let url =
        |p: u64| format!("https://api.digitalocean.com/v2/{kind}?page={p}&per_page={per_page}");
    let mut pages = serde_json::Map::new();
    if page > 1 {
        pages.insert("first".into(), url(1).into());
        pages.insert("prev".into(), url(page - 1).into());
    }
    if page < last {
        pages.insert("next".into(), url(page + 1).into());
        pages.insert("last".into(), url(last).into());
    }
    (json!({"pages": pages}), json!({"total": total}))
}

fn list(world: &Arc<Mutex<World>>, req: &Request) -> Answer {
    let mut w = world.lock().unwrap();
    let n = w.polls_until_running;
    let tag = req.query.get("tag_name").cloned();
    let mut all = Vec::new();
    for s in w.servers.values_mut() {
        if tag.as_ref().is_none_or(|t| s.tags.contains(t)) {
            let active = look(s, n);
            all.push(droplet_json(s, active));
        }
    }
    let (items, page, per_page, last) = paginate(&all, &req.query, w.max_page_size);
    let (links, meta) = page_links("droplets", page, per_page, last, all.len());
    Answer::json(
        200,
        json!({"droplets": items, "links": links, "meta": meta}),
    )
}

fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 255
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_'))
}

async fn create(world: &Arc<Mutex<World>>, req: &Request) -> Answer {
    let b = &req.body;
    let Some(name) = b["name"].as_str() else {
        return unprocessable("Name is invalid");
    };
    if !b["region"].is_string() {
        return unprocessable("You specified an invalid region for Droplet creation.");
    }
    if !b["size"].as_str().is_some_and(|s| SIZES.contains(&s)) {
        return unprocessable("You specified an invalid size for Droplet creation.");
    }
    if !(b["image"].is_string() || b["image"].is_u64()) {
        return unprocessable("You specified an invalid image for Droplet creation.");
    }
    let tags: Vec<String> = b["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if let Some(bad) = tags.iter().find(|t| !valid_tag(t)) {
        return unprocessable(&format!(
            "Tag '{bad}' is invalid: tags may contain letters, numbers, colons, dashes, and underscores"
        ));
    }
    let stall = {
        let mut w = world.lock().unwrap();
        w.create_requests += 1;
        if let Some(ids) = b["ssh_keys"].as_array() {
            for id in ids {
                if !w.keys.iter().any(|k| id.as_u64() == Some(k.id)) {
                    return unprocessable(&format!("ssh_keys: key {id} does not exist"));
                }
            }
        }
        w.stall
    };
    if stall == Some(Stall::BeforeStore) {
        return stall_forever().await;
    }
    let droplet = {
        let mut w = world.lock().unwrap();
        w.next_id += 1;
        let d = FakeServer {
            id: w.next_id,
            name: name.to_string(),
            polls: 0,
            request: b.clone(),
            labels: Default::default(),
            tags,
            off: false,
            power_ons: 0,
            public_ip: w.public_ip.clone(),
            deleting: None,
        };
        w.servers.insert(d.id, d.clone());
        d
    };
    if stall == Some(Stall::AfterStore) {
        return stall_forever().await;
    }
    Answer::json(
        202,
        json!({
            "droplet": droplet_json(&droplet, false),
            "links": {"actions": [{"id": droplet.id + 90_000, "rel": "create", "href": format!("https://api.digitalocean.com/v2/actions/{}", droplet.id + 90_000)}]}
        }),
    )
}

/// `GET /droplets/{id}`: a droplet being deleted is looked at through its `destroy` action, and
/// is a 404 once that succeeded.
fn get(world: &Arc<Mutex<World>>, id: &str) -> Answer {
    let mut w = world.lock().unwrap();
    let n = w.polls_until_running;
    let Some(id) = id.parse::<u64>().ok() else {
        return not_found();
    };
    if let Some(action) = w.servers.get(&id).and_then(|s| s.deleting) {
        w.look_at_action(action);
    }
    match w.servers.get_mut(&id) {
        Some(s) => {
            let active = look(s, n);
            Answer::json(200, json!({"droplet": droplet_json(s, active)}))
        }
        None => not_found(),
    }
}

/// `DELETE /droplets/{id}`: 204 at once; the droplet goes when its `destroy` action succeeds.
fn delete(world: &Arc<Mutex<World>>, id: &str) -> Answer {
    let mut w = world.lock().unwrap();
    let Some(s) = id.parse::<u64>().ok().and_then(|id| w.servers.get(&id)) else {
        return not_found();
    };
    if s.deleting.is_none() {
        let droplet = s.id;
        let action = w.start_action("destroy", droplet, false);
        if let Some(s) = w.servers.get_mut(&droplet) {
            s.deleting = Some(action);
        }
    }
    Answer::empty(204)
}

/// The action as the API documents it: `in-progress` → `completed` | `errored`.
fn action_json(a: &FakeAction, region: &Value) -> Value {
    let (status, completed_at) = match a.state {
        ActionState::Running => ("in-progress", Value::Null),
        ActionState::Succeeded => ("completed", "2026-05-01T11:00:05Z".into()),
        ActionState::Failed => ("errored", "2026-05-01T11:00:05Z".into()),
    };
    json!({
        "id": a.id,
        "status": status,
        "type": a.command,
        "started_at": "2026-05-01T11:00:00Z",
        "completed_at": completed_at,
        "resource_id": a.server,
        "resource_type": "droplet",
        "region": {"slug": region},
        "region_slug": region,
    })
}

/// `POST /droplets/{id}/actions` with `{"type": "power_on"}`; other types are not faked (422).
/// A droplet that is on stays as it is (the action completes at once).
fn action(world: &Arc<Mutex<World>>, id: &str, req: &Request) -> Answer {
    let mut w = world.lock().unwrap();
    let Some(s) = id.parse::<u64>().ok().and_then(|id| w.servers.get_mut(&id)) else {
        return not_found();
    };
    match req.body["type"].as_str() {
        Some("power_on") => {}
        Some(other) => {
            return unprocessable(&format!("'{other}' is not a droplet action the fake knows"));
        }
        None => return unprocessable("Type is invalid"),
    }
    let was_off = s.off;
    if was_off {
        s.off = false;
        s.power_ons += 1;
        s.polls = 0;
    }
    let (droplet, region) = (s.id, s.request["region"].clone());
    let action = w.start_action("power_on", droplet, !was_off);
    Answer::json(
        201,
        json!({"action": action_json(&w.actions[&action], &region)}),
    )
}

/// `GET /actions/{id}`: the action, one look further on.
fn get_action(world: &Arc<Mutex<World>>, id: &str) -> Answer {
    let mut w = world.lock().unwrap();
    let Some(a) = id.parse::<u64>().ok().and_then(|id| w.look_at_action(id)) else {
        return not_found();
    };
    let region = w
        .servers
        .get(&a.server)
        .map(|s| s.request["region"].clone())
        .unwrap_or(Value::Null);
    Answer::json(200, json!({"action": action_json(&a, &region)}))
}

fn key_json(k: &FakeKey) -> Value {
    json!({"id": k.id, "fingerprint": format!("3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:{:02x}", k.id % 256), "public_key": k.public_key, "name": k.name})
}

fn list_keys(world: &Arc<Mutex<World>>, req: &Request) -> Answer {
    let w = world.lock().unwrap();
    let all: Vec<Value> = w.keys.iter().map(key_json).collect();
    let (items, page, per_page, last) = paginate(&all, &req.query, w.max_page_size);
    let (links, meta) = page_links("account/keys", page, per_page, last, all.len());
    Answer::json(
        200,
        json!({"ssh_keys": items, "links": links, "meta": meta}),
    )
}

fn create_key(world: &Arc<Mutex<World>>, req: &Request) -> Answer {
    let (Some(name), Some(public_key)) =
        (req.body["name"].as_str(), req.body["public_key"].as_str())
    else {
        return unprocessable("Public key is invalid");
    };
    let mut w = world.lock().unwrap();
    let material = |k: &str| k.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    if w.keys
        .iter()
        .any(|k| material(&k.public_key) == material(public_key))
    {
        return unprocessable("SSH Key is already in use on your account");
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

fn record_json(r: &FakeRecord) -> Value {
    json!({"id": r.id, "type": r.kind, "name": r.name, "data": r.data, "priority": null, "port": null, "ttl": r.ttl, "weight": null, "flags": null, "tag": null})
}

fn list_records(world: &Arc<Mutex<World>>, domain: &str, req: &Request) -> Answer {
    let w = world.lock().unwrap();
    let Some(records) = w.domains.get(domain) else {
        return not_found();
    };
    let all: Vec<Value> = records.iter().map(record_json).collect();
    let (items, page, per_page, last) = paginate(&all, &req.query, w.max_page_size);
    let (links, meta) = page_links(
        &format!("domains/{domain}/records"),
        page,
        per_page,
        last,
        all.len(),
    );
    Answer::json(
        200,
        json!({"domain_records": items, "links": links, "meta": meta}),
    )
}

fn record_fields(b: &Value) -> Result<(String, String, String, u32), Answer> {
    let kind = b["type"]
        .as_str()
        .ok_or_else(|| unprocessable("Type is invalid"))?;
    let name = b["name"]
        .as_str()
        .ok_or_else(|| unprocessable("Name is invalid"))?;
    let data = b["data"]
        .as_str()
        .ok_or_else(|| unprocessable("Data needs to end with a dot (.)"))?;
    if kind == "A" && data.parse::<std::net::Ipv4Addr>().is_err() {
        return Err(unprocessable(
            "IP address did not match IPv4 format (e.g. 127.0.0.1).",
        ));
    }
    let ttl = b["ttl"].as_u64().unwrap_or(1800) as u32;
    if ttl < 30 {
        return Err(unprocessable("TTL must be at least 30 seconds"));
    }
    Ok((kind.into(), name.into(), data.into(), ttl))
}

fn create_record(world: &Arc<Mutex<World>>, domain: &str, req: &Request) -> Answer {
    let (kind, name, data, ttl) = match record_fields(&req.body) {
        Ok(f) => f,
        Err(a) => return a,
    };
    let mut w = world.lock().unwrap();
    w.next_id += 1;
    let id = w.next_id;
    let Some(records) = w.domains.get_mut(domain) else {
        return not_found();
    };
    let r = FakeRecord {
        id,
        kind,
        name,
        data,
        ttl,
    };
    records.push(r.clone());
    Answer::json(201, json!({"domain_record": record_json(&r)}))
}

fn update_record(world: &Arc<Mutex<World>>, domain: &str, id: &str, req: &Request) -> Answer {
    let (kind, name, data, ttl) = match record_fields(&req.body) {
        Ok(f) => f,
        Err(a) => return a,
    };
    let mut w = world.lock().unwrap();
    let Some(records) = w.domains.get_mut(domain) else {
        return not_found();
    };
    let Some(r) = records.iter_mut().find(|r| r.id.to_string() == id) else {
        return not_found();
    };
    *r = FakeRecord {
        id: r.id,
        kind,
        name,
        data,
        ttl,
    };
    Answer::json(200, json!({"domain_record": record_json(r)}))
}

fn delete_record(world: &Arc<Mutex<World>>, domain: &str, id: &str) -> Answer {
    let mut w = world.lock().unwrap();
    let Some(records) = w.domains.get_mut(domain) else {
        return not_found();
    };
    let before = records.len();
    records.retain(|r| r.id.to_string() != id);
    if records.len() == before {
        return not_found();
    }
    Answer::empty(204)
}
