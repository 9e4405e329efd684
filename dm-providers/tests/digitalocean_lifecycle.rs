//! DigitalOcean: create → wait until active and SSH answers → list → destroy, against the fake
//! API; keys registered once, tags and cloud-init as documented, create idempotent by name even
//! though DigitalOcean itself allows duplicate names.

use crate::fake;

use dm_providers::{Destroyed, DigitalOcean, Provider, ServerStatus};
use fake::{Api, Fake};

const TOKEN: &str = "dop_v1_test_token_abcdef0123456789";

#[tokio::test]
async fn create_wait_list_destroy() {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    let d = DigitalOcean::new(fake.config(TOKEN)).unwrap();
    let port = fake::ssh_listener().await;

    let mut spec = fake::spec(Api::DigitalOcean, "appnode2");
    spec.tags.push("shop".into());
    let created = d.create(&spec).await.unwrap();
    assert_eq!(created.name, "appnode2");
    assert_eq!(created.provider, "digitalocean");
    assert_eq!(created.status, ServerStatus::Starting);
    assert_eq!(
        created.public_ipv4, None,
        "a new droplet has no address yet"
    );

    {
        let w = fake.world();
        assert_eq!(w.keys.len(), 1, "the key is registered once");
        let sent = &w.servers.values().next().unwrap().request;
        assert_eq!(sent["size"], "s-1vcpu-1gb");
        assert_eq!(sent["region"], "fra1");
        assert_eq!(sent["image"], "debian-12-x64");
        assert_eq!(sent["ssh_keys"], serde_json::json!([w.keys[0].id]));
        let tags: Vec<&str> = sent["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(tags, ["dm", "dm-name:appnode2", "dm-role:appnode", "shop"]);
        let user_data = sent["user_data"].as_str().unwrap();
        assert!(user_data.contains("hostname: \"appnode2\""));
        assert!(user_data.contains(fake::KEY));
    }

    let ready = d.wait_ready(&created.id, &fake::wait(port)).await.unwrap();
    assert_eq!(ready.status, ServerStatus::Running);
    assert_eq!(ready.public_ipv4, Some("127.0.0.1".parse().unwrap()));
    assert!(ready.private_ipv4.is_some());
    assert_eq!(ready.roles, ["appnode"]);

    let other = d
        .create(&fake::spec(Api::DigitalOcean, "appnode3"))
        .await
        .unwrap();
    assert_eq!(fake.world().keys.len(), 1);

    let mut names: Vec<String> = d
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    names.sort();
    assert_eq!(names, ["appnode2", "appnode3"]);
    assert_eq!(d.find("appnode3").await.unwrap().unwrap().id, other.id);

    assert_eq!(d.destroy(&created.id).await.unwrap(), Destroyed::Deleted);
    assert_eq!(fake.statuses("DELETE", "/v2/droplets/"), [204]);
    assert_eq!(
        d.destroy(&created.id).await.unwrap(),
        Destroyed::AlreadyGone
    );
    assert!(d.status(&created.id).await.unwrap_err().is_not_found());
    let left: Vec<String> = d
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(left, ["appnode3"]);
}

#[tokio::test]
async fn create_adopts_a_droplet_that_exists_by_name() {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    let d = DigitalOcean::new(fake.config(TOKEN)).unwrap();
    let spec = fake::spec(Api::DigitalOcean, "lb1");
    let first = d.create(&spec).await.unwrap();
    let second = d.create(&spec).await.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(fake.count("POST", "/v2/droplets"), 1);
    assert_eq!(fake.world().servers.len(), 1);
}

#[tokio::test]
async fn lists_follow_pagination() {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    fake.world().max_page_size = 2;
    let d = DigitalOcean::new(fake.config(TOKEN)).unwrap();
    for i in 1..=5 {
        d.create(&fake::spec(Api::DigitalOcean, &format!("appnode{i}")))
            .await
            .unwrap();
    }
    assert_eq!(d.list().await.unwrap().len(), 5);
    assert!(fake.count("GET", "/v2/droplets?tag_name=dm&page=3") >= 1);
}
