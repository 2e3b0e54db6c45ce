/** What `import x from "*.wasm"` gives in workerd: a compiled module. */
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
