//! Hetzner Cloud: create → wait until running and SSH answers → list → destroy, against the fake
//! API; keys registered once, labels and cloud-init as documented, create idempotent by name.

use crate::fake;

use dm_providers::{Destroyed, Hetzner, Provider, ServerStatus};
use fake::{Api, Fake};

const TOKEN: &str = "hcloud-test-token-0123456789";

#[tokio::test]
async fn create_wait_list_destroy() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let port = fake::ssh_listener().await;

    let spec = fake::spec(Api::Hetzner, "appnode2");
    let created = hz.create(&spec).await.unwrap();
    assert_eq!(created.name, "appnode2");
    assert_eq!(created.provider, "hetzner");
    assert_eq!(created.status, ServerStatus::Starting);
    assert_eq!(created.roles, vec!["appnode".to_string()]);

    // What reached the API: the documented fields, dm's labels, the key by id, cloud-init.
    {
        let w = fake.world();
        assert_eq!(w.keys.len(), 1, "the key is registered once");
        let sent = &w.servers.values().next().unwrap().request;
        assert_eq!(sent["server_type"], "cx22");
        assert_eq!(sent["image"], "debian-12");
        assert_eq!(sent["location"], "fsn1");
        assert_eq!(sent["ssh_keys"], serde_json::json!([w.keys[0].id]));
        assert_eq!(sent["labels"]["dm/managed"], "true");
        assert_eq!(sent["labels"]["dm/name"], "appnode2");
        assert_eq!(sent["labels"]["dm.role/appnode"], "");
        let user_data = sent["user_data"].as_str().unwrap();
        assert!(user_data.starts_with("#cloud-config\n"));
        assert!(user_data.contains("hostname: \"appnode2\""));
        assert!(user_data.contains(fake::KEY));
    }

    let ready = hz.wait_ready(&created.id, &fake::wait(port)).await.unwrap();
    assert_eq!(ready.status, ServerStatus::Running);
    assert_eq!(ready.public_ipv4, Some("127.0.0.1".parse().unwrap()));
    assert!(ready.private_ipv4.is_some());
    assert!(
        fake.count("GET", &format!("/v1/servers/{}", created.id)) >= 3,
        "it polled until the fake said running"
    );

    // A second server reuses the registered key.
    let other = hz
        .create(&fake::spec(Api::Hetzner, "appnode3"))
        .await
        .unwrap();
    assert_eq!(fake.world().keys.len(), 1);

    let mut names: Vec<String> = hz
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.sort();
    assert_eq!(names, ["appnode2", "appnode3"]);
    assert_eq!(hz.find("appnode3").await.unwrap().unwrap().id, other.id);
    assert!(hz.find("appnode9").await.unwrap().is_none());

    assert_eq!(hz.destroy(&created.id).await.unwrap(), Destroyed::Deleted);
    assert_eq!(
        hz.destroy(&created.id).await.unwrap(),
        Destroyed::AlreadyGone
    );
    assert!(hz.status(&created.id).await.unwrap_err().is_not_found());
    let left: Vec<String> = hz
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(left, ["appnode3"]);
}

#[tokio::test]
async fn create_adopts_a_server_that_exists_by_name() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let spec = fake::spec(Api::Hetzner, "lb1");
    let first = hz.create(&spec).await.unwrap();
    let second = hz.create(&spec).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(fake.count("POST", "/v1/servers"), 1, "one create call only");
    assert_eq!(fake.world().servers.len(), 1);
}

#[tokio::test]
async fn lists_follow_pagination() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    fake.world().max_page_size = 2;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    for i in 1..=5 {
        hz.create(&fake::spec(Api::Hetzner, &format!("appnode{i}")))
            .await
            .unwrap();
    }
    assert_eq!(hz.list().await.unwrap().len(), 5);
    assert!(
        fake.count(
            "GET",
            "/v1/servers?label_selector=dm%2Fmanaged%3Dtrue&page=3"
        ) >= 1
    );
}
