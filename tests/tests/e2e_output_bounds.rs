//! What dm keeps of a host's output is bounded: a `logs --follow` that runs for hours, a build
//! that prints without newlines, or a chatty `--json` run must not grow dm's memory without end.

use dm_tests::*;

#[test]
fn the_json_report_keeps_the_last_lines_of_a_host_and_says_how_many_it_left_out() {
    let fleet = fleet(&[("app1", &[])]);
    let run = Dm::new(&fleet)
        .args(["--json", "-H", "app1", "run", "seq 30000"])
        .run();
    run.assert_success();
    let json = run.json();
    let output = json["hosts"][0]["output"]
        .as_array()
        .unwrap_or_else(|| panic!("no output in {json}"));
    assert_eq!(output.len(), 10_001, "the last 10000 lines and a note");
    assert_eq!(output[0]["stream"], "dm");
    assert!(
        output[0]["line"]
            .as_str()
            .is_some_and(|l| l.starts_with("[20000 earlier lines were not kept")),
        "{}",
        output[0]
    );
    assert_eq!(output[1]["line"], "20001");
    assert_eq!(output[10_000]["line"], "30000");
}

#[test]
fn output_without_newlines_arrives_in_bounded_lines() {
    let fleet = fleet(&[("app1", &[])]);
    // 300 000 bytes without a newline, then one.
    let run = Dm::new(&fleet)
        .args([
            "--json",
            "-H",
            "app1",
            "run",
            "head -c 300000 /dev/zero | tr '\\0' x; echo",
        ])
        .run();
    run.assert_success();
    let json = run.json();
    let lines: Vec<usize> = json["hosts"][0]["output"]
        .as_array()
        .map(|o| {
            o.iter()
                .filter_map(|l| l["line"].as_str().map(str::len))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(lines.iter().sum::<usize>(), 300_000, "{lines:?}");
    assert!(lines.iter().all(|&n| n <= 64 * 1024), "{lines:?}");
}
