//! Workloads W1-W5 (W6, heap per presence, is `cargo run --release -p beryl-core --example
//! heap_per_presence`). Run with `cargo bench -p beryl-core --bench presence`.

mod workloads;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use workloads::*;

fn w1_track(c: &mut Criterion) {
    let mut group = c.benchmark_group("W1");
    group.sample_size(10);
    // The ref is what a track returns to its caller (as in Phoenix). A caller that forwards
    // every change (as the sync engine does) also builds each delta and diff: the same workload
    // with that cost included.
    for (name, build_change) in [
        ("track 100k presences over 10k topics", false),
        (
            "track 100k presences over 10k topics, building each delta and diff",
            true,
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || (PresenceStateFactory::fresh(), inputs(0..100_000)),
                |(mut state, inputs)| {
                    for (topic, key, pid, meta) in &inputs.rows {
                        let tracked = state.track(topic, key, pid, meta).expect("fresh triple");
                        black_box(tracked.phx_ref());
                        if build_change {
                            black_box(tracked.into_change());
                        }
                    }
                    // Returned, not dropped here: freeing the 400,000 input strings is not part
                    // of tracking, and criterion drops what the routine returns outside the
                    // timing.
                    (state, inputs)
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

struct PresenceStateFactory;

impl PresenceStateFactory {
    fn fresh() -> beryl_core::PresenceState {
        beryl_core::PresenceState::new(replica("bench"))
    }
}

fn w2_merge_full_state(c: &mut Criterion) {
    let source = tracked("source", 0..100_000);
    let full = source.full_state(None);
    let mut group = c.benchmark_group("W2");
    group.sample_size(10);
    group.bench_function("merge the full state of W1 into a fresh replica", |b| {
        b.iter_batched(
            || (PresenceStateFactory::fresh(), full.clone()),
            |(mut state, delta)| {
                black_box(state.merge(delta));
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Times `merge` of successive churn deltas; the untimed part keeps the state size constant.
fn timed_churn(
    state: &mut beryl_core::PresenceState,
    source: &mut beryl_core::PresenceState,
    next: &mut usize,
    oldest: &mut usize,
    joins: usize,
    leaves: usize,
    iterations: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iterations {
        let delta = churn(source, next, oldest, joins, leaves);
        let started = Instant::now();
        black_box(state.merge(delta));
        total += started.elapsed();
        if leaves == 0 {
            // Keep the size constant: the joined presence leaves again, untimed.
            let undo = churn(source, next, oldest, 0, joins);
            state.merge(undo);
        }
    }
    total
}

fn w3_delta_merge(c: &mut Criterion) {
    let mut group = c.benchmark_group("W3");
    {
        let (mut state, mut source) = holding("bench", "source", 200_000);
        let (mut next, mut oldest) = (200_000, 0);
        group.bench_function(
            "merge a 100-op delta (50 joins, 50 leaves) into 200k",
            |b| {
                b.iter_custom(|iterations| {
                    timed_churn(
                        &mut state,
                        &mut source,
                        &mut next,
                        &mut oldest,
                        50,
                        50,
                        iterations,
                    )
                })
            },
        );
    }
    for size in [1_000usize, 100_000, 1_000_000] {
        let (mut state, mut source) = holding("bench", "source", size);
        let (mut next, mut oldest) = (size, 0);
        group.bench_function(format!("merge a 1-join delta into {size}"), |b| {
            b.iter_custom(|iterations| {
                // `oldest` is unused for pure joins: the undo removes the joined one.
                let mut undo_from = next;
                let elapsed = timed_churn(
                    &mut state,
                    &mut source,
                    &mut next,
                    &mut undo_from,
                    1,
                    0,
                    iterations,
                );
                oldest = undo_from;
                elapsed
            })
        });
        black_box(oldest);
    }
    group.finish();
}

fn w4_list(c: &mut Criterion) {
    let mut state = tracked("bench", 0..199_000);
    for i in 0..1_000 {
        let i = 1_000_000 + i;
        state
            .track("room:lobby", &key(i), &pid(i), &meta(i))
            .expect("fresh triple");
    }
    assert_eq!(state.topic_len("room:lobby"), 1_000);
    c.bench_function("W4/list a topic with 1,000 members in 200k", |b| {
        b.iter(|| black_box(state.list("room:lobby")))
    });
}

fn w5_liveness(c: &mut Criterion) {
    let mut group = c.benchmark_group("W5");
    group.sample_size(10);
    let (mut state, source) = holding("bench", "source", 100_000);
    let owner = source.replica().clone();
    group.bench_function("replica_down of a replica holding 100k", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                black_box(state.replica_down(&owner).expect("remote replica"));
                total += started.elapsed();
                state.replica_up(&owner).expect("remote replica");
            }
            total
        })
    });
    let full = source.full_state(None);
    group.bench_function("remove_replica of a replica holding 100k", |b| {
        b.iter_batched(
            || {
                let mut state = PresenceStateFactory::fresh();
                state.merge(full.clone());
                state
            },
            |mut state| {
                black_box(state.remove_replica(&owner).expect("remote replica"));
                state
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(
    benches,
    w1_track,
    w2_merge_full_state,
    w3_delta_merge,
    w4_list,
    w5_liveness
);
criterion_main!(benches);
