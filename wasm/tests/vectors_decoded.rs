//! What each golden replication message of `tests/vectors` decodes to, through the facade the
//! wasm bindings use: written to `tests/vectors/decoded.json` and checked on every run, so the
//! npm package's tests compare their decodes with the native results.
//!
//! For each scenario a fresh observer merges the message (binary form; the JSON form must give
//! the same): the observer is replica `observer` (incarnation 1), or, for a state request, the
//! replica the request is addressed to, so that its answer (which depends on the decoded
//! digest) is part of the result. Recorded: the merge diff, the observer's topics, its list of
//! every topic the scenario uses, its replica records, and its answer to the message in both
//! forms (or null).
//!
//! `BERYL_UPDATE_VECTORS=1 cargo test -p beryl-wasm --test vectors_decoded` rewrites the file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use beryl_core::wire;
use beryl_wasm::facade::StateFacade;
use beryl_wasm::json::write_str;
use serde_json::Value;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a string field")
}

/// The observer of a scenario's message and the topics its steps use.
fn observer(scenario: &Value) -> (StateFacade, Vec<String>) {
    let message = &scenario["message"];
    let (name, incarnation) = if message["type"] == "state_request" {
        let to = text(&message["to"]);
        let replica = scenario["replicas"]
            .as_array()
            .expect("replicas")
            .iter()
            .find(|replica| replica["name"] == to)
            .expect("the recipient is a scenario replica");
        (to.to_owned(), text(&replica["incarnation"]).to_owned())
    } else {
        ("observer".to_owned(), "1".to_owned())
    };
    let mut topics: Vec<String> = scenario["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|step| step["topic"].as_str().map(str::to_owned))
        .collect();
    topics.sort();
    topics.dedup();
    let state = StateFacade::new(&name, &incarnation, "").expect("a valid observer");
    (state, topics)
}

fn decoded(scenario: &Value) -> String {
    let name = text(&scenario["name"]);
    let dir = vectors_dir().join("replication");
    let binary = std::fs::read(dir.join(format!("{name}.bin"))).expect("the .bin vector");
    let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).expect("the .json vector");
    let json = json.trim_end_matches('\n');

    let (mut state, topics) = observer(scenario);
    let (mut twin, _) = observer(scenario);
    let message = state
        .decode_binary(&binary)
        .expect("the golden binary decodes");
    let answer = state.answer(&message);
    let diff = state
        .merge_binary(&binary)
        .expect("the golden binary merges");
    let diff_from_json = twin.merge_json(json).expect("the golden JSON merges");
    assert_eq!(diff, diff_from_json, "{name}: both forms decode alike");

    let mut out = String::from("{\"name\":");
    write_str(&mut out, name);
    let _ = write!(out, ",\"observer\":{},\"diff\":{diff}", state.replica());
    out.push_str(",\"topics\":");
    out.push_str(&state.topics());
    out.push_str(",\"lists\":{");
    for (index, topic) in topics.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_str(&mut out, topic);
        out.push(':');
        out.push_str(&state.list(topic));
    }
    out.push_str("},\"replicas\":");
    out.push_str(&state.replicas());
    match &answer {
        Some(reply) => {
            let _ = write!(
                out,
                ",\"answer\":\"{}\",\"answerJson\":",
                hex(&wire::encode_binary(reply))
            );
            write_str(&mut out, &wire::encode_json(reply));
        }
        None => out.push_str(",\"answer\":null,\"answerJson\":null"),
    }
    out.push('}');
    out
}

#[test]
fn decoded_vectors_match_the_file() {
    let scenarios: Value = serde_json::from_str(
        &std::fs::read_to_string(vectors_dir().join("scenarios.json")).expect("scenarios.json"),
    )
    .expect("scenarios.json is JSON");
    let lines: Vec<String> = scenarios
        .as_array()
        .expect("an array of scenarios")
        .iter()
        .map(decoded)
        .collect();
    // One scenario per line: readable diffs when a result changes.
    let actual = format!("[\n{}\n]\n", lines.join(",\n"));
    let path = vectors_dir().join("decoded.json");
    if std::env::var_os("BERYL_UPDATE_VECTORS").is_some_and(|v| v != "0" && !v.is_empty()) {
        std::fs::write(&path, &actual).expect("writing decoded.json");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "tests/vectors/decoded.json is out of date: rerun with BERYL_UPDATE_VECTORS=1 \
         and review the change"
    );
    let parsed: Value = serde_json::from_str(&actual).expect("decoded.json is JSON");
    let results = parsed.as_array().expect("an array");
    assert!(
        results
            .iter()
            .any(|result| !result["diff"]["joins"].as_array().unwrap().is_empty()),
        "some message makes presences visible"
    );
    assert!(
        results.iter().any(|result| !result["answer"].is_null()),
        "the state request is answered"
    );
}
