// The golden vectors of tests/vectors, replayed through the built package: every message must
// encode to exactly the bytes and text the native core wrote and decode (in both forms) to
// exactly what the native facade decodes it to (decoded.json), every invalid input must be
// refused as a DecodeError, and every Phoenix payload must match byte for byte.
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { resolve } from "node:path";
import { describe, test } from "node:test";
import { DecodeError, PresenceState } from "beryl-presence";
import { Cluster } from "./cluster.mjs";
import { hex, readJson, vectorHex, vectorText, vectorsDir } from "./helpers.mjs";

const scenarios = readJson(resolve(vectorsDir, "scenarios.json"));
const invalid = readJson(resolve(vectorsDir, "invalid.json"));
// Written by wasm/tests/vectors_decoded.rs: what the native facade decodes each message to.
const decoded = readJson(resolve(vectorsDir, "decoded.json"));
const phoenixCases = readdirSync(resolve(vectorsDir, "phoenix"))
  .filter((file) => file.endsWith(".json"))
  .map((file) => readJson(resolve(vectorsDir, "phoenix", file)));

describe("replication scenarios", () => {
  assert.ok(scenarios.length > 0, "scenarios.json lists scenarios");
  for (const scenario of scenarios) {
    test(scenario.name, () => {
      const cluster = new Cluster(scenario.replicas);
      for (const step of scenario.steps) cluster.apply(step);
      assert.equal(hex(cluster.message(scenario.message, "binary")), vectorHex(scenario.name));
      assert.equal(cluster.message(scenario.message, "json"), vectorText(scenario.name));
      cluster.free();
    });
  }
});

describe("golden messages decode to what the native side decodes them to", () => {
  const byName = new Map(decoded.map((result) => [result.name, result]));
  assert.deepEqual([...byName.keys()], scenarios.map((s) => s.name), "decoded.json covers every scenario");
  for (const scenario of scenarios) {
    for (const form of ["binary", "json"]) {
      test(`${scenario.name} (${form})`, () => {
        const expected = byName.get(scenario.name);
        const { name, incarnation } = expected.observer;
        const observer = new PresenceState(name, { incarnation });
        const message =
          form === "binary" ? new Uint8Array(Buffer.from(vectorHex(scenario.name), "hex")) : vectorText(scenario.name);
        const answer = observer.answer(message);
        assert.equal(
          answer === null ? null : form === "binary" ? hex(answer) : answer,
          form === "binary" ? expected.answer : expected.answerJson,
          "the answer to the message",
        );
        assert.deepEqual(observer.merge(message), expected.diff, "the merge diff");
        assert.deepEqual(observer.topics(), expected.topics);
        for (const [topic, list] of Object.entries(expected.lists)) {
          assert.deepEqual(observer.list(topic), list, `list(${JSON.stringify(topic)})`);
        }
        assert.deepEqual(observer.replicas(), expected.replicas);
        observer.free();
      });
    }
  }
});

describe("invalid inputs are refused as DecodeError", () => {
  assert.ok(invalid.length > 0);
  for (const vector of invalid) {
    test(`${vector.name} (${vector.form})`, () => {
      const state = new PresenceState("observer", { incarnation: "1" });
      state.track("room:1", "me", "p", {});
      const before = state.list("room:1");
      const input =
        vector.form === "json" ? vector.text : new Uint8Array(Buffer.from(vector.hex, "hex"));
      assert.throws(
        () => state.merge(input),
        (error) => error instanceof DecodeError && error.reason === vector.error,
      );
      assert.deepEqual(state.list("room:1"), before, "a refused message changes nothing");
      state.free();
    });
  }
});

describe("Phoenix payloads", () => {
  assert.ok(phoenixCases.length > 0);
  for (const vector of phoenixCases) {
    test(vector.name, () => {
      const cluster = new Cluster(vector.replicas, vector.observer);
      const observer = cluster.state(vector.observer);
      for (const step of vector.setup) cluster.apply(step);
      assert.equal(observer.presenceState(vector.topic), vector.state);
      cluster.seen.length = 0;
      for (const step of vector.changes) cluster.apply(step);
      assert.equal(observer.encodeDiff(cluster.seen, vector.topic), vector.diff);
      assert.equal(observer.presenceState(vector.topic), vector.final_state);
      cluster.free();
    });
  }
});
