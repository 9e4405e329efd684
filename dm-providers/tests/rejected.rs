//! 4xx answers become errors that quote the API's own message and name the field: DigitalOcean's
//! documented 422, Hetzner's `invalid_input` (400, with `details.fields`) and a 422.

use crate::fake;

use axum::http::Method;
use dm_providers::{DigitalOcean, Error, Hetzner, Provider};
use fake::{Api, Fake, Fault};

const TOKEN: &str = "rejected-test-token";

#[tokio::test]
async fn digitalocean_422_quotes_the_message_and_names_the_field() {
    let fake = Fake::start(Api::DigitalOcean, TOKEN).await;
    let d = DigitalOcean::new(fake.config(TOKEN)).unwrap();
    let mut spec = fake::spec(Api::DigitalOcean, "appnode2");
    spec.size = "s-99vcpu-1tb".into();
    let err = d.create(&spec).await.unwrap_err();
    match &err {
        Error::Rejected {
            status,
            code,
            message,
            fields,
            ..
        } => {
            assert_eq!(*status, 422);
            assert_eq!(code, "unprocessable_entity");
            assert_eq!(
                message,
                "You specified an invalid size for Droplet creation."
            );
            assert_eq!(fields.len(), 1);
            assert_eq!(fields[0].name, "size");
        }
        other => panic!("not a rejection: {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "DigitalOcean: POST /droplets was rejected (HTTP 422, unprocessable_entity): \
         \"You specified an invalid size for Droplet creation.\" [field `size`]; fix that in the \
         server spec and try again"
    );
    assert_eq!(
        fake.count("POST", "/v2/droplets"),
        1,
        "a rejection is not retried"
    );
    assert!(fake.world().servers.is_empty());
}

#[tokio::test]
async fn hetzner_invalid_input_names_the_field_from_the_details() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let mut spec = fake::spec(Api::Hetzner, "appnode2");
    spec.size = "cx999".into();
    let err = hz.create(&spec).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Hetzner Cloud: POST /servers was rejected (HTTP 400, invalid_input): \"invalid input in \
         field 'server_type'\" [field `server_type`: server type cx999 not found]; fix that in \
         the server spec and try again"
    );
}

#[tokio::test]
async fn hetzner_422_is_a_clear_error() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    fake.fail_next(
        Method::POST,
        "/servers",
        Fault::Answer(
            422,
            serde_json::json!({"error": {
                "code": "unsupported_error",
                "message": "image debian-12 is not available for server_type cax11",
                "details": {}
            }}),
        ),
    );
    let err = hz
        .create(&fake::spec(Api::Hetzner, "appnode2"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Rejected { status: 422, .. }));
    assert_eq!(
        err.to_string(),
        "Hetzner Cloud: POST /servers was rejected (HTTP 422, unsupported_error): \"image \
         debian-12 is not available for server_type cax11\" [field `image`, field \
         `server_type`]; fix that in the server spec and try again"
    );
    assert!(fake.world().servers.is_empty());
}

#[tokio::test]
async fn a_bad_spec_is_refused_before_any_request() {
    let fake = Fake::start(Api::Hetzner, TOKEN).await;
    let hz = Hetzner::new(fake.config(TOKEN)).unwrap();
    let mut spec = fake::spec(Api::Hetzner, "app_node");
    let err = hz.create(&spec).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("server `app_node`: the name must be a valid hostname")
    );
    spec.name = "appnode2".into();
    spec.ssh_keys = vec!["AAAA-not-a-key".into()];
    let err = hz.create(&spec).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("is not an OpenSSH public key line"),
        "{err}"
    );
    assert!(fake.world().log.is_empty(), "nothing was sent");
}
