// The same worker where FinalizationRegistry is missing (removed before the package loads).
import "./no-finalization.mjs";

export { default } from "./worker.mjs";
