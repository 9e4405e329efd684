//! Files move byte-identical in both directions, and an interrupted upload never leaves a partial
//! file at its destination.

use std::time::{Duration, Instant};

use dm_tests::*;

/// Deterministic pseudo-random bytes (xorshift), so the content is not trivially compressible.
fn noise(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn put_then_get_of_50_mb_round_trips_byte_identical() {
    let fleet = fleet(&[("app1", &[])]);
    let local = fleet.dir().join("big.bin");
    let data = noise(50 * 1024 * 1024);
    std::fs::write(&local, &data).expect("write local file");
    let run = Dm::new(&fleet)
        .args([
            "-H",
            "app1",
            "roundtrip",
            local.to_str().expect("utf8"),
            "/root/big.bin",
        ])
        .run();
    run.assert_success();
    run.assert_output_contains(&format!("got {} bytes", data.len()));
    let back = std::fs::read(fleet.dir().join("big.bin.app1")).expect("downloaded copy");
    assert!(back == data, "downloaded copy differs from the original");
    let mode = fleet.machine("app1").exec_ok("stat -c %a /root/big.bin");
    assert_eq!(mode.trim(), "600");
    let leftovers = fleet
        .machine("app1")
        .exec_ok("ls -a /root | grep -c dm-tmp || true");
    assert_eq!(leftovers.trim(), "0", "temporary files left on the host");
}

#[test]
fn interrupted_put_leaves_the_destination_untouched() {
    let fleet = fleet(&[("app1", &[])]);
    let machine = fleet.machine("app1");
    // Slow the link so the upload is still running when we kill dm.
    machine.limit_bandwidth(20_000);
    machine.exec_ok("echo old > /root/target.bin");
    let local = fleet.dir().join("big.bin");
    std::fs::write(&local, noise(50 * 1024 * 1024)).expect("write local file");

    let mut child = Dm::new(&fleet)
        .args([
            "-H",
            "app1",
            "upload",
            local.to_str().expect("utf8"),
            "/root/target.bin",
        ])
        .spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let tmp = machine.exec_ok("ls -a /root | grep -c dm-tmp || true");
        if tmp.trim() != "0" {
            break;
        }
        assert!(Instant::now() < deadline, "the upload never started");
        if let Ok(Some(status)) = child.try_wait() {
            panic!("dm ended before it could be interrupted: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().expect("kill dm");
    let _ = child.wait();

    assert_eq!(machine.exec_ok("cat /root/target.bin").trim(), "old");
    let deadline = Instant::now() + Duration::from_secs(20);
    while machine
        .exec_ok("ls -a /root | grep -c dm-tmp || true")
        .trim()
        != "0"
    {
        assert!(
            Instant::now() < deadline,
            "the temporary file of the interrupted upload was not removed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(machine.exec_ok("cat /root/target.bin").trim(), "old");
}
