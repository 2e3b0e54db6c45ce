// Import this module before beryl-presence: from then on it records every call that compiles
// or instantiates WebAssembly, sets a timer, queues a microtask or draws a random number, in
// `calls`. Runs unchanged in Node, Deno, workerd and browsers (see loading.mjs).
export const calls = [];

function spy(object, name, label) {
  const original = object?.[name];
  if (typeof original !== "function") return;
  const wrapper = function (...args) {
    calls.push(label);
    return new.target === undefined ? original.apply(this, args) : Reflect.construct(original, args);
  };
  wrapper.prototype = original.prototype;
  try {
    object[name] = wrapper;
  } catch {
    // A platform that does not let it be replaced: it is then not watched.
  }
}

spy(globalThis.WebAssembly, "compile", "WebAssembly.compile");
spy(globalThis.WebAssembly, "compileStreaming", "WebAssembly.compileStreaming");
spy(globalThis.WebAssembly, "instantiate", "WebAssembly.instantiate");
spy(globalThis.WebAssembly, "instantiateStreaming", "WebAssembly.instantiateStreaming");
spy(globalThis.WebAssembly, "Module", "new WebAssembly.Module");
spy(globalThis.WebAssembly, "Instance", "new WebAssembly.Instance");
spy(globalThis, "setTimeout", "setTimeout");
spy(globalThis, "setInterval", "setInterval");
spy(globalThis, "queueMicrotask", "queueMicrotask");
spy(Math, "random", "Math.random");
spy(globalThis.crypto, "getRandomValues", "crypto.getRandomValues");
spy(globalThis.crypto, "randomUUID", "crypto.randomUUID");
