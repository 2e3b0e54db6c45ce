//! Workloads W1-W4 of the core benchmark, run natively through the same facade calls the wasm
//! bindings make (their encoded results included), so the package's benchmark script
//! (tests/js/package/bench/workloads.mjs) can print native and wasm ops/s side by side. Each
//! workload first runs once untimed, as the script does for V8. Prints one JSON object of ops/s.
//!
//!   cargo run --release -p beryl-wasm --example workloads [-- --no-1m]

use std::time::Instant;

use beryl_core::wire;
use beryl_wasm::facade::StateFacade;

fn meta(i: usize) -> String {
    format!(r#"{{"status":"online","joined_at":{i}}}"#)
}

fn fresh(name: &str) -> StateFacade {
    StateFacade::new(name, "1", "").expect("valid replica")
}

fn track(state: &mut StateFacade, i: usize, topic: &str) {
    state
        .track_counter(topic, &format!("user:{i}"), &format!("pid:{i}"), &meta(i))
        .expect("fresh triple");
}

fn tracked(name: &str, n: usize) -> StateFacade {
    let mut state = fresh(name);
    for i in 0..n {
        track(&mut state, i, &format!("room:{}", i % 10_000));
    }
    state.take_pending();
    state
}

fn holding(n: usize) -> (StateFacade, StateFacade) {
    let source = tracked("source", n);
    let mut state = fresh("bench");
    let full = wire::encode_binary(&source.full_state(None));
    state.merge_binary(&full).expect("valid state");
    (state, source)
}

/// The next user to join and the next to leave.
struct Cursor {
    next: usize,
    oldest: usize,
}

/// Times merging `rounds` deltas of `joins` joins and `leaves` leaves made by `source`; `at`
/// moves on.
fn churn(
    state: &mut StateFacade,
    source: &mut StateFacade,
    at: &mut Cursor,
    joins: usize,
    leaves: usize,
    rounds: usize,
) -> f64 {
    let Cursor {
        mut next,
        mut oldest,
    } = *at;
    let mut seconds = 0.0;
    for _ in 0..rounds {
        for _ in 0..joins {
            track(source, next, &format!("room:{}", next % 10_000));
            next += 1;
        }
        for _ in 0..leaves {
            source.untrack(
                &format!("room:{}", oldest % 10_000),
                &format!("user:{oldest}"),
                &format!("pid:{oldest}"),
            );
            oldest += 1;
        }
        let bytes = wire::encode_binary(&source.take_delta().expect("changes"));
        let started = Instant::now();
        std::hint::black_box(state.merge_binary_compact(&bytes).expect("valid delta"));
        seconds += started.elapsed().as_secs_f64();
        if leaves == 0 {
            for i in next - joins..next {
                source.untrack(
                    &format!("room:{}", i % 10_000),
                    &format!("user:{i}"),
                    &format!("pid:{i}"),
                );
            }
            let undo = wire::encode_binary(&source.take_delta().expect("changes"));
            state.merge_binary(&undo).expect("valid delta");
        }
    }
    *at = Cursor { next, oldest };
    rounds as f64 / seconds
}

fn main() {
    let with_1m = !std::env::args().any(|arg| arg == "--no-1m");
    let mut out = Vec::new();

    drop(tracked("w1-warm-up", 100_000));
    let started = Instant::now();
    let w1 = tracked("w1", 100_000);
    out.push((
        "W1 track (tracks/s)",
        100_000.0 / started.elapsed().as_secs_f64(),
    ));

    let full = wire::encode_binary(&w1.full_state(None));
    fresh("w2-warm-up")
        .merge_binary_compact(&full)
        .expect("valid state");
    let mut fresh_state = fresh("w2");
    let started = Instant::now();
    std::hint::black_box(
        fresh_state
            .merge_binary_compact(&full)
            .expect("valid state"),
    );
    out.push((
        "W2 merge full state (presences/s)",
        100_000.0 / started.elapsed().as_secs_f64(),
    ));

    let (mut state, mut source) = holding(200_000);
    let mut at = Cursor {
        next: 200_000,
        oldest: 0,
    };
    churn(&mut state, &mut source, &mut at, 50, 50, 50);
    out.push((
        "W3 100-op delta into 200k (deltas/s)",
        churn(&mut state, &mut source, &mut at, 50, 50, 200),
    ));
    let sizes: &[usize] = if with_1m {
        &[1_000, 100_000, 1_000_000]
    } else {
        &[1_000, 100_000]
    };
    for &size in sizes {
        let (mut state, mut source) = holding(size);
        let label: &'static str = match size {
            1_000 => "W3 1-join delta into 1k (deltas/s)",
            100_000 => "W3 1-join delta into 100k (deltas/s)",
            _ => "W3 1-join delta into 1M (deltas/s)",
        };
        let mut at = Cursor {
            next: size,
            oldest: 0,
        };
        churn(&mut state, &mut source, &mut at, 1, 0, 1_000);
        out.push((label, churn(&mut state, &mut source, &mut at, 1, 0, 1_000)));
    }

    let mut state = tracked("w4", 199_000);
    for i in 1_000_000..1_001_000 {
        track(&mut state, i, "room:lobby");
    }
    let rounds = 2_000;
    for _ in 0..rounds / 10 {
        std::hint::black_box(state.list_compact("room:lobby"));
    }
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(state.list_compact("room:lobby"));
    }
    out.push((
        "W4 list 1,000 of 200k (lists/s)",
        rounds as f64 / started.elapsed().as_secs_f64(),
    ));

    let fields: Vec<String> = out
        .iter()
        .map(|(name, ops)| format!("\"{name}\":{ops:.1}"))
        .collect();
    println!("{{{}}}", fields.join(","));
}
