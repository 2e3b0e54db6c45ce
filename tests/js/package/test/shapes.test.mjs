// The declared types and the values the package hands out cannot drift apart. The TypeScript
// compiler API reads the public declarations (the Node entry's, in the Node-only types project)
// and turns every exported class's members, every exported function and every error class into
// a shape: properties with their primitive types, literals and optionality, arrays, nested
// interfaces. A scenario then runs every member of PresenceState and SyncNode through a proxy
// that checks each returned value, each diff a handler receives and each error thrown against
// those shapes: exactly the declared properties, each of the declared type, plain objects and
// arrays only, no bigint anywhere. Every declared member must have been exercised.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SignatureKind, SymbolFlags, TypeFlags } from "typescript/unstable/sync";
import { API } from "typescript/unstable/sync";
import * as pkg from "beryl-presence";
import { projectDir } from "./helpers.mjs";

let api;
let shapes;

/** What a declared type allows, as plain data. */
function shapeReader(checker) {
  const byId = new Map();
  const shape = (type) => {
    if (byId.has(type.id)) return byId.get(type.id);
    const result = {};
    byId.set(type.id, result);
    Object.assign(result, describe(type));
    return result;
  };
  const describe = (type) => {
    const flags = type.flags;
    if (flags & (TypeFlags.BigInt | TypeFlags.BigIntLiteral)) {
      throw new Error(`a declaration uses bigint: ${checker.typeToString(type)}`);
    }
    if (flags & TypeFlags.Any) throw new Error(`a declaration uses any: ${checker.typeToString(type)}`);
    if (flags & TypeFlags.Unknown) return { kind: "unknown" };
    if (flags & (TypeFlags.Undefined | TypeFlags.Void)) return { kind: "undefined" };
    if (flags & TypeFlags.Null) return { kind: "null" };
    if (flags & TypeFlags.StringLiteral) return { kind: "literal", value: type.value };
    if (flags & TypeFlags.NumberLiteral) return { kind: "literal", value: type.value };
    if (flags & TypeFlags.BooleanLiteral) return { kind: "literal", value: checker.typeToString(type) === "true" };
    if (flags & TypeFlags.String) return { kind: "string" };
    if (flags & TypeFlags.Number) return { kind: "number" };
    if (flags & TypeFlags.Boolean) return { kind: "boolean" };
    if (flags & TypeFlags.Union) return { kind: "union", members: type.getTypes().map(shape) };
    if (flags & TypeFlags.TypeParameter) return { kind: "meta", name: checker.typeToString(type) };
    if (flags & TypeFlags.Object) {
      const name = type.getSymbol()?.name;
      if (checker.isArrayType(type)) return { kind: "array", item: shape(checker.getTypeArguments(type)[0]) };
      if (name === "Uint8Array") return { kind: "instance", of: "Uint8Array" };
      if (name === "Promise") return { kind: "promise", value: shape(checker.getTypeArguments(type)[0]) };
      if (checker.getSignaturesOfType(type, SignatureKind.Call).length > 0) return { kind: "function" };
      if (checker.getIndexInfosOfType(type).length > 0) return { kind: "json object", name };
      const properties = {};
      for (const property of checker.getPropertiesOfType(type)) {
        properties[property.name] = {
          optional: (property.flags & SymbolFlags.Optional) !== 0,
          type: shape(checker.getTypeOfSymbol(property)),
        };
      }
      return { kind: "object", name: checker.typeToString(type), properties };
    }
    throw new Error(`no shape for ${checker.typeToString(type)} (flags ${flags})`);
  };
  return shape;
}

/** The shapes of the exported classes' members, functions and error classes. */
function readShapes() {
  api = new API({ cwd: projectDir });
  const snapshot = api.updateSnapshot({ openProject: `${projectDir}/types/node/tsconfig.json` });
  const [project] = snapshot.getProjects();
  const { checker, program } = project;
  const entry = program.getSourceFileNames().find((name) => name.endsWith("/pkg/dist/node.d.ts"));
  assert.ok(entry, "the Node entry's declarations are in the program");
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(entry)));
  const shape = shapeReader(checker);
  const result = { classes: {}, functions: {}, errors: {}, types: {} };
  for (const exported of exports) {
    const symbol = exported.flags & SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const scanParameters = (signatures) => {
      // Parameters are not checked against values, but a bigint or any in one fails here.
      for (const signature of signatures) {
        for (const parameter of signature.getParameters()) shape(checker.getTypeOfSymbol(parameter));
      }
      return signatures;
    };
    if (symbol.flags & SymbolFlags.Class) {
      scanParameters(checker.getSignaturesOfType(checker.getTypeOfSymbol(symbol), SignatureKind.Construct));
      const instance = checker.getDeclaredTypeOfSymbol(symbol);
      const members = {};
      for (const member of checker.getPropertiesOfType(instance)) {
        if (member.name.startsWith("__#")) continue; // private fields
        const name = member.name.startsWith("__@dispose@") ? "Symbol.dispose" : member.name;
        const type = checker.getTypeOfSymbol(member);
        if (member.flags & SymbolFlags.Method) {
          const returns = scanParameters(checker.getSignaturesOfType(type, SignatureKind.Call)).map((signature) =>
            shape(checker.getReturnTypeOfSignature(signature)),
          );
          members[name] = { kind: "method", returns: { kind: "union", members: returns } };
        } else {
          members[name] = {
            kind: "property",
            optional: (member.flags & SymbolFlags.Optional) !== 0,
            type: shape(type),
          };
        }
      }
      const isError = checker.getPropertyOfType(instance, "code") !== undefined && /Error$/.test(symbol.name);
      (isError ? result.errors : result.classes)[symbol.name] = members;
    } else if (symbol.flags & SymbolFlags.Function) {
      const signatures = scanParameters(checker.getSignaturesOfType(checker.getTypeOfSymbol(symbol), SignatureKind.Call));
      result.functions[symbol.name] = {
        kind: "union",
        members: signatures.map((signature) => shape(checker.getReturnTypeOfSignature(signature))),
      };
    } else if (symbol.flags & SymbolFlags.Interface) {
      result.types[symbol.name] = shape(checker.getDeclaredTypeOfSymbol(symbol));
    }
  }
  return result;
}

/** Throws unless `value` is JSON as JSON.parse would give it (a meta). */
function checkJson(value, path) {
  if (value === null || ["string", "boolean"].includes(typeof value)) return;
  if (typeof value === "number") {
    assert.ok(Number.isFinite(value), `${path}: ${value}`);
    return;
  }
  if (Array.isArray(value)) {
    assert.equal(Object.getPrototypeOf(value), Array.prototype, `${path}: a plain array`);
    value.forEach((item, index) => checkJson(item, `${path}[${index}]`));
    return;
  }
  assert.equal(typeof value, "object", `${path}: ${typeof value} is not JSON`);
  assert.equal(Object.getPrototypeOf(value), Object.prototype, `${path}: a plain object`);
  for (const [key, item] of Object.entries(value)) checkJson(item, `${path}.${key}`);
}

/** Throws unless `value` fits `shape` exactly; returns what it checked, for counting. */
function check(value, shape, path) {
  switch (shape.kind) {
    case "unknown":
      return;
    case "undefined":
      assert.equal(value, undefined, path);
      return;
    case "null":
      assert.equal(value, null, path);
      return;
    case "literal":
      assert.equal(value, shape.value, path);
      return;
    case "string":
    case "number":
    case "boolean":
      assert.equal(typeof value, shape.kind, `${path}: ${typeof value} is not ${shape.kind}`);
      return;
    case "function":
      assert.equal(typeof value, "function", path);
      return;
    case "instance":
      assert.equal(Object.getPrototypeOf(value)?.constructor?.name, shape.of, path);
      return;
    case "meta":
    case "json object":
      assert.ok(typeof value === "object" && value !== null && !Array.isArray(value), `${path}: an object`);
      checkJson(value, path);
      return;
    case "array":
      assert.ok(Array.isArray(value), `${path}: an array`);
      assert.equal(Object.getPrototypeOf(value), Array.prototype, `${path}: a plain array`);
      value.forEach((item, index) => check(item, shape.item, `${path}[${index}]`));
      return;
    case "union": {
      const failures = [];
      for (const member of shape.members) {
        try {
          check(value, member, path);
          return;
        } catch (error) {
          failures.push(error.message);
        }
      }
      assert.fail(`${path}: ${JSON.stringify(value)} fits none of the declared types:\n  ${failures.join("\n  ")}`);
      return;
    }
    case "object": {
      assert.ok(typeof value === "object" && value !== null, `${path}: an object`);
      assert.equal(Object.getPrototypeOf(value), Object.prototype, `${path}: a plain object (${shape.name})`);
      const declared = Object.keys(shape.properties);
      for (const key of Reflect.ownKeys(value)) {
        assert.ok(declared.includes(key), `${path}.${String(key)} is not declared in ${shape.name}`);
      }
      for (const [key, property] of Object.entries(shape.properties)) {
        if (!Object.hasOwn(value, key)) {
          assert.ok(property.optional, `${path}.${key} is declared (${shape.name}) but missing`);
          continue;
        }
        check(value[key], property.type, `${path}.${key}`);
      }
      return;
    }
    default:
      throw new Error(`unknown shape ${shape.kind}`);
  }
}

/** Throws if a bigint is anywhere inside `value`. */
function noBigInt(value, path, seen = new Set()) {
  assert.notEqual(typeof value, "bigint", `${path} is a bigint`);
  if (typeof value === "object" && value !== null && !seen.has(value) && !ArrayBuffer.isView(value)) {
    seen.add(value);
    for (const key of Reflect.ownKeys(value)) noBigInt(value[key], `${path}.${String(key)}`, seen);
  }
}

const exercised = new Map();

/** The error an API call threw must be one of the declared error classes, with their fields. */
function checkError(error, path) {
  assert.ok(error instanceof pkg.BerylError, `${path} threw a non-BerylError: ${error}`);
  const members = shapes.errors[error.constructor.name];
  assert.ok(members, `${path} threw an undeclared ${error.constructor.name}`);
  for (const key of Reflect.ownKeys(error)) {
    assert.ok(Object.hasOwn(members, key), `${path}: ${error.constructor.name}.${String(key)} is not declared`);
  }
  for (const [key, member] of Object.entries(members)) {
    if (member.kind !== "property") continue;
    if (!(key in error)) {
      assert.ok(member.optional, `${path}: ${error.constructor.name}.${key} is missing`);
      continue;
    }
    check(error[key], member.type, `${path}: ${error.constructor.name}.${key}`);
  }
  noBigInt(error, path);
  exercised.set(`error ${error.constructor.name}`, (exercised.get(`error ${error.constructor.name}`) ?? 0) + 1);
}

/** `target` behind a proxy that checks what every declared member returns or throws. */
function watched(target, className) {
  const members = shapes.classes[className];
  const count = (name) => exercised.set(`${className}.${name}`, (exercised.get(`${className}.${name}`) ?? 0) + 1);
  return new Proxy(target, {
    get(object, key) {
      const name = key === Symbol.dispose ? "Symbol.dispose" : key;
      const member = typeof name === "string" ? members[name] : undefined;
      if (member === undefined) return Reflect.get(object, key, object);
      if (member.kind === "property") {
        const value = Reflect.get(object, key, object);
        check(value, member.type, `${className}.${name}`);
        noBigInt(value, `${className}.${name}`);
        count(name);
        return value;
      }
      const method = Reflect.get(object, key, object);
      return (...args) => {
        let result;
        try {
          result = method.apply(object, args);
        } catch (error) {
          checkError(error, `${className}.${name}`);
          count(name);
          throw error;
        }
        check(result, member.returns, `${className}.${name}(${args.map((a) => JSON.stringify(a)).join(", ")})`);
        noBigInt(result, `${className}.${name}`);
        count(name);
        return result;
      };
    },
  });
}

function throwsChecked(action) {
  assert.throws(action, pkg.BerylError);
}

async function scenario() {
  const fn = (name, ...args) => {
    const result = pkg[name](...args);
    check(result, shapes.functions[name], name);
    exercised.set(name, 1);
    return result;
  };
  const [promised] = shapes.functions.init.members;
  assert.equal(promised.kind, "promise");
  const pending = pkg.init();
  check(pending, { kind: "instance", of: "Promise" }, "init()");
  check(await pending, promised.value, "await init()");
  exercised.set("init", 1);
  fn("initSync", new Uint8Array());
  fn("isReady");
  fn("newIncarnation");
  fn("incarnationFrom", 1_700_000_000_000, 7);

  const a = watched(new pkg.PresenceState("node-a", { incarnation: "11" }), "PresenceState");
  const b = watched(new pkg.PresenceState("node-b", { incarnation: "12" }), "PresenceState");
  const handled = [];
  const unsubscribe = b.onDiff((diff) => handled.push(diff));
  a.replica;
  a.track("room", "alice", "p1", { status: "online", n: 1, tags: ["x"], nested: { ok: true } });
  a.track("room", "bob", "p2");
  a.update("room", "alice", "p1", { status: "away" });
  throwsChecked(() => a.track("room", "bob", "p2", {}));
  throwsChecked(() => a.update("room", "nobody", "p9", {}));
  throwsChecked(() => a.track("room", "k", "p", new pkg.JsonText("[]")));
  throwsChecked(() => a.track("room", "k", "p", { at: new Date() }));
  a.takeDelta();
  a.takeDelta();
  a.track("lobby", "carol", "p3", {});
  const delta = a.takeDelta("json");
  b.merge(delta);
  b.merge(a.fullState());
  b.merge(a.fullState({ to: b.replica, format: "json" }));
  throwsChecked(() => b.merge(new Uint8Array([0xb7, 0x52, 1])));
  throwsChecked(() => b.merge("{}"));
  for (const reader of [a, b]) {
    reader.list("room");
    reader.list("nowhere");
    reader.getByKey("room", "alice");
    reader.topics();
    reader.size;
    reader.topicSize("room");
    reader.localCounter();
    reader.replicas();
    reader.replicaStatus(a.replica);
    reader.replicaStatus({ name: "ghost", incarnation: "1" });
    reader.presenceState("room");
  }
  a.localDeltaSince(0);
  a.localDeltaSince(1, "json");
  a.liveness(b.replica, "down");
  a.liveness(b.replica, "up", "json");
  throwsChecked(() => a.liveness(a.replica, "sideways"));
  a.heartbeat();
  a.heartbeat("json");
  const request = b.stateRequest(a.replica);
  b.stateRequest(a.replica, "json");
  b.merge(a.answer(request));
  a.answer(a.heartbeat());
  a.answer(b.stateRequest(a.replica, "json"));
  const down = b.replicaDown(a.replica);
  b.replicaUp(a.replica);
  throwsChecked(() => b.replicaDown(b.replica));
  b.encodeDiff(down, "room");
  b.encodeDiff([down, down], "room");
  throwsChecked(() => b.encodeDiff({ joins: [{}], leaves: [] }, "room"));
  a.untrack("room", "bob", "p2");
  a.untrack("room", "bob", "p2");
  a.untrackAll("p1");
  b.merge(a.takeDelta());
  b.merge(a.goodbye());
  a.goodbye("json");
  b.removeReplica({ name: "node-x", incarnation: "5" });
  unsubscribe();
  assert.ok(handled.length >= 3, "the handler saw diffs");
  handled.forEach((diff, index) => check(diff, shapes.types.Diff, `onDiff handler's diff ${index}`));
  a.free();
  a.free();
  throwsChecked(() => a.list("room"));
  b[Symbol.dispose]();

  const config = { broadcastIntervalMs: 100, downPeriodMs: 1_000, permanentDownPeriodMs: 5_000 };
  const x = watched(new pkg.SyncNode("sync-x", { now: 0, incarnation: "21", config }), "SyncNode");
  const y = watched(new pkg.SyncNode("sync-y", { now: 0, incarnation: "22", config }), "SyncNode");
  throwsChecked(() => new pkg.SyncNode("bad", { now: 0, config: { downPeriodMs: 1 } }));
  x.replica;
  x.track("room", "alice", "p1", { n: 1 });
  x.update("room", "alice", "p1", { n: 2 });
  x.track("room", "bob", "p2", {});
  throwsChecked(() => x.track("room", "bob", "p2", {}));
  let now = 0;
  const pump = (format) => {
    for (const [from, to] of [[x, y], [y, x]]) {
      for (let out = from.pollTransmit(format); out !== null; out = from.pollTransmit(format)) {
        to.receive(now, format === "json" ? out.text : out.bytes);
      }
    }
    for (const node of [x, y]) {
      for (let event = node.pollEvent(); event !== null; event = node.pollEvent()) kinds.add(kind(event));
    }
  };
  const kinds = new Set();
  const kind = (event) => (event.type === "peer" ? `peer ${event.status}` : event.type);
  for (; now <= 400; now += 50) {
    for (const node of [x, y]) if (node.nextTimeout() <= now) node.tick(now);
    pump(now % 100 === 0 ? "json" : "binary");
  }
  throwsChecked(() => y.receive(now, new Uint8Array([1, 2, 3])));
  x.untrack("room", "bob", "p2");
  x.untrackAll("p1");
  for (const reader of [x, y]) {
    reader.list("room");
    reader.getByKey("room", "alice");
    reader.topics();
    reader.size;
    reader.topicSize("room");
    reader.replicas();
    reader.replicaStatus(x.replica);
    reader.presenceState("room");
    reader.peers();
    reader.stopped;
  }
  const tracked = y.track("lobby", "carol", "p3", {});
  y.encodeDiff(tracked.diff, "lobby");
  // Silence: y marks x down; x is heard again (up); silence again until y removes it.
  const silence = (span) => {
    for (const end = now + span; now <= end; now += 250) {
      if (y.nextTimeout() <= now) y.tick(now);
      for (let event = y.pollEvent(); event !== null; event = y.pollEvent()) kinds.add(kind(event));
      while (y.pollTransmit() !== null);
    }
  };
  silence(1_500);
  x.tick(now);
  pump("binary");
  silence(6_000);
  for (const expected of ["diff", "peer up", "peer down", "peer removed"]) {
    assert.ok(kinds.has(expected), `a ${expected} event was checked: ${[...kinds]}`);
  }
  x.stop();
  x.stopped;
  x.nextTimeout();
  x.pollTransmit();
  x.pollEvent();
  x.free();
  y[Symbol.dispose]();
}

before(async () => {
  shapes = readShapes();
});

after(() => api?.close());

test("the declared shapes are read from the declarations", () => {
  assert.ok(Object.keys(shapes.classes.PresenceState).length > 25);
  assert.ok(Object.keys(shapes.classes.SyncNode).length > 20);
  const presence = shapes.types.Presence;
  assert.deepEqual(Object.keys(presence.properties), ["topic", "key", "pid", "meta", "phxRef", "phxRefPrev", "replica"]);
  assert.deepEqual(presence.properties.phxRefPrev.type.members.map((m) => m.kind).sort(), ["null", "string"]);
  assert.equal(shapes.types.PeerInfo.properties.lastHeard.type.kind, "number");
  assert.ok(shapes.errors.DecodeError.reason);
});

test("the checks refuse values that drift from the declarations", () => {
  const state = new pkg.PresenceState("drift", { incarnation: "1" });
  const [presence] = state.track("t", "k", "p", { n: 1 }).diff.joins;
  const shape = shapes.types.Presence;
  check(structuredClone(presence), shape, "as returned");
  const drifts = [
    { ...presence, extra: 1 },
    { ...presence, phxRefPrev: undefined },
    (({ phxRefPrev, ...rest }) => rest)(presence),
    { ...presence, phx_ref: presence.phxRef },
    { ...presence, replica: { ...presence.replica, incarnation: 1000 } },
    { ...presence, replica: { ...presence.replica, incarnation: 1000n } },
    { ...presence, meta: new Map() },
    { ...presence, topic: ["t"] },
  ];
  for (const drifted of drifts) {
    assert.throws(() => check(drifted, shape, "drifted"), assert.AssertionError, JSON.stringify(drifted, (_, v) => (typeof v === "bigint" ? `${v}n` : v)));
  }
  assert.throws(() => noBigInt({ deep: [{ n: 1n }] }, "value"), /value\.deep\.0\.n is a bigint/);
  state.free();
});

test("every value the API returns has exactly its declared shape", async () => {
  await scenario();
  const unexercised = [];
  for (const [className, members] of Object.entries(shapes.classes)) {
    if (className === "JsonText") continue;
    for (const name of Object.keys(members)) {
      if (!exercised.has(`${className}.${name}`)) unexercised.push(`${className}.${name}`);
    }
  }
  for (const name of Object.keys(shapes.functions)) if (!exercised.has(name)) unexercised.push(name);
  assert.deepEqual(unexercised, [], "every declared member is exercised");
  const errors = [...exercised.keys()].filter((key) => key.startsWith("error "));
  for (const expected of ["DecodeError", "AlreadyTrackedError", "NotTrackedError", "InvalidInputError", "UsageError"]) {
    assert.ok(errors.includes(`error ${expected}`), `${expected} was checked`);
  }
  const calls = [...exercised.values()].reduce((sum, n) => sum + n, 0);
  console.log(`shapes: ${calls} returned values and errors checked against ${Object.keys(shapes.types).length} declared interfaces`);
});
