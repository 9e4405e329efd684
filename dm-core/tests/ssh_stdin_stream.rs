//! Streaming stdin through `exec`: 50 MB into `cat > file` must arrive intact and fast.

use crate::ssh_support;

use std::process::Command;
use std::time::Instant;

use dm_core::ssh::{Session, Stream};
use ssh_support::Sshd;

const SIZE: usize = 50 * 1024 * 1024;

/// Deterministic, incompressible-enough test data (a simple xorshift stream).
fn data() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut v = Vec::with_capacity(SIZE);
    while v.len() < SIZE {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(SIZE);
    v
}

fn local_sha256(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

async fn stdout_of(session: &Session, cmd: &str) -> String {
    let mut out = Vec::new();
    let status = session
        .exec(cmd, None, &mut |s, b| {
            if s == Stream::Stdout {
                out.extend_from_slice(b)
            }
        })
        .await
        .expect("exec");
    assert!(status.success(), "{cmd}: {status}");
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn fifty_megabytes_round_trip() {
    let sshd = Sshd::start();
    let session = Session::connect(&sshd.host("local"), &sshd.options())
        .await
        .expect("connect");
    let local = sshd.dir.path().join("local.bin");
    std::fs::write(&local, data()).unwrap();
    let expected = local_sha256(&local);
    let remote = sshd.dir.path().join("remote.bin");

    // Upload: stream the file into `cat > remote`.
    let mut file = tokio::fs::File::open(&local).await.unwrap();
    let started = Instant::now();
    let status = session
        .exec(
            &format!("cat > {}", remote.display()),
            Some(&mut file),
            &mut |_, _| {},
        )
        .await
        .expect("exec with stdin");
    let upload = started.elapsed();
    assert!(status.success(), "{status}");
    let got = stdout_of(&session, &format!("sha256sum {}", remote.display())).await;
    assert_eq!(&got[..64], expected, "uploaded file differs");

    // Download: stream it back through stdout.
    let started = Instant::now();
    let mut back = Vec::with_capacity(SIZE);
    let status = session
        .exec(&format!("cat {}", remote.display()), None, &mut |s, b| {
            if s == Stream::Stdout {
                back.extend_from_slice(b)
            }
        })
        .await
        .expect("exec download");
    let download = started.elapsed();
    assert!(status.success());
    assert!(back == data(), "downloaded bytes differ");

    let mb = SIZE as f64 / 1e6;
    println!(
        "50 MiB upload through stdin: {:.2} s = {:.0} MB/s; download through stdout: {:.2} s = {:.0} MB/s",
        upload.as_secs_f64(),
        mb / upload.as_secs_f64(),
        download.as_secs_f64(),
        mb / download.as_secs_f64()
    );
    assert!(upload.as_secs_f64() < 10.0, "upload too slow: {upload:?}");
    assert!(
        download.as_secs_f64() < 10.0,
        "download too slow: {download:?}"
    );
}

#[tokio::test]
async fn command_that_ignores_stdin_does_not_hang() {
    let sshd = Sshd::start();
    let session = Session::connect(&sshd.host("local"), &sshd.options())
        .await
        .expect("connect");
    let local = sshd.dir.path().join("local.bin");
    std::fs::write(&local, data()).unwrap();
    let mut file = tokio::fs::File::open(&local).await.unwrap();
    // `true` never reads: the window fills, and exec must still return when the command ends.
    let status = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        session.exec("exit 2", Some(&mut file), &mut |_, _| {}),
    )
    .await
    .expect("exec hung on unread stdin")
    .expect("exec");
    assert_eq!(status.code, Some(2));
    // The connection is still usable.
    assert_eq!(stdout_of(&session, "echo ok").await, "ok\n");
}

#[tokio::test]
async fn small_stdin_and_empty_stdin() {
    let sshd = Sshd::start();
    let session = Session::connect(&sshd.host("local"), &sshd.options())
        .await
        .expect("connect");
    let mut out = Vec::new();
    let mut input: &[u8] = b"hello\nworld\n";
    let status = session
        .exec("tac", Some(&mut input), &mut |_, b| {
            out.extend_from_slice(b)
        })
        .await
        .expect("exec");
    assert!(status.success());
    assert_eq!(out, b"world\nhello\n");
    let mut empty: &[u8] = b"";
    let mut out = Vec::new();
    session
        .exec("wc -c", Some(&mut empty), &mut |_, b| {
            out.extend_from_slice(b)
        })
        .await
        .expect("exec");
    assert_eq!(String::from_utf8(out).unwrap().trim(), "0");
}
