// Replays the scenario steps of tests/vectors (see tests/vectors/README.md) on package states,
// exactly as core/tests/vectors.rs does natively.
import { JsonText, PresenceState } from "beryl-presence";

export class Cluster {
  constructor(replicas, observer) {
    this.states = new Map();
    this.seen = [];
    for (const spec of replicas) {
      const state = new PresenceState(spec.name, { incarnation: spec.incarnation });
      this.states.set(spec.name, state);
      if (spec.name === observer) {
        state.onDiff((diff) => this.seen.push(diff));
      }
    }
  }

  state(name) {
    const state = this.states.get(name);
    if (state === undefined) throw new Error(`unknown replica ${name}`);
    return state;
  }

  /** Applies one step on its replica, then merges the step's delta where it is delivered. */
  apply(step) {
    const state = this.state(step.replica);
    switch (step.op) {
      case "track":
        state.track(step.topic, step.key, step.pid, new JsonText(step.meta));
        break;
      case "update":
        state.update(step.topic, step.key, step.pid, new JsonText(step.meta));
        break;
      case "untrack":
        state.untrack(step.topic, step.key, step.pid);
        break;
      case "untrack_all":
        state.untrackAll(step.pid);
        break;
      default:
        throw new Error(`unknown op ${step.op}`);
    }
    const delta = state.takeDelta();
    const targets = step.deliver ?? [...this.states.keys()].filter((n) => n !== step.replica);
    for (const target of targets) {
      if (delta !== null) this.state(target).merge(delta);
    }
  }

  /** Builds a scenario's message in `format`. */
  message(spec, format) {
    const from = this.state(spec.from);
    switch (spec.type) {
      case "delta":
        return from.localDeltaSince(spec.after, format);
      case "heartbeat":
        return from.heartbeat(format);
      case "state_request":
        return from.stateRequest(this.state(spec.to).replica, format);
      case "state_reply": {
        const request = this.state(spec.to).stateRequest(from.replica, format);
        return from.answer(request);
      }
      case "goodbye":
        return from.goodbye(format);
      case "liveness":
        return from.liveness(this.state(spec.replica).replica, spec.status, format);
      default:
        throw new Error(`unknown message type ${spec.type}`);
    }
  }

  free() {
    for (const state of this.states.values()) state.free();
  }
}
