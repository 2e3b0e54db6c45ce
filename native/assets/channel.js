// A small Phoenix Channels V2 client for the demo page: one WebSocket, joins with refs,
// heartbeats, reconnection, and the binary frames beryl's CRDT sync option uses.

const HEARTBEAT_MS = 20_000;

/** Decodes a binary frame as phoenix.js does: kind 0 is a push (with join_ref), 2 a broadcast. */
function decodeBinary(buffer) {
  const bytes = new Uint8Array(buffer);
  const text = new TextDecoder();
  if (bytes[0] === 0) {
    const [joinRefSize, topicSize, eventSize] = [bytes[1], bytes[2], bytes[3]];
    let at = 4;
    const joinRef = text.decode(bytes.subarray(at, (at += joinRefSize)));
    const topic = text.decode(bytes.subarray(at, (at += topicSize)));
    const event = text.decode(bytes.subarray(at, (at += eventSize)));
    return { joinRef, ref: null, topic, event, payload: bytes.subarray(at) };
  }
  if (bytes[0] === 2) {
    const [topicSize, eventSize] = [bytes[1], bytes[2]];
    let at = 3;
    const topic = text.decode(bytes.subarray(at, (at += topicSize)));
    const event = text.decode(bytes.subarray(at, (at += eventSize)));
    return { joinRef: null, ref: null, topic, event, payload: bytes.subarray(at) };
  }
  return null;
}

export class Channel {
  constructor(socket, topic, params) {
    this.socket = socket;
    this.topic = topic;
    this.params = params;
    this.joinRef = null;
    this.joined = false;
    this.handlers = new Map();
  }

  /** Calls `handler(payload)` for every `event` of the current join. */
  on(event, handler) {
    this.handlers.set(event, handler);
    return this;
  }

  join() {
    this.joinRef = this.socket.makeRef();
    this.socket.pending.set(this.joinRef, (reply) => {
      this.joined = reply.status === "ok";
      this.handlers.get(reply.status === "ok" ? "joined" : "refused")?.(reply.response);
    });
    this.socket.send([this.joinRef, this.joinRef, this.topic, "phx_join", this.params]);
  }

  push(event, payload) {
    return new Promise((resolve) => {
      const ref = this.socket.makeRef();
      this.socket.pending.set(ref, resolve);
      this.socket.send([this.joinRef, ref, this.topic, event, payload]);
    });
  }

  leave() {
    if (this.joined) {
      this.socket.send([this.joinRef, this.socket.makeRef(), this.topic, "phx_leave", {}]);
    }
    this.joined = false;
    this.socket.channels.delete(this.topic);
  }

  dispatch(message) {
    if (message.joinRef !== null && message.joinRef !== this.joinRef) {
      return; // a message of an earlier join
    }
    this.handlers.get(message.event)?.(message.payload);
  }
}

export class PhoenixSocket {
  /** `url` like ws://host/socket; `onStatus(connected)` reports the connection's state. */
  constructor(url, onStatus = () => {}) {
    this.url = `${url}/websocket?vsn=2.0.0`;
    this.onStatus = onStatus;
    this.ref = 0;
    this.pending = new Map();
    this.channels = new Map();
    this.ws = null;
    this.heartbeat = null;
    this.retries = 0;
    this.closedByUs = false;
  }

  makeRef() {
    this.ref += 1;
    return String(this.ref);
  }

  channel(topic, params) {
    const channel = new Channel(this, topic, params);
    this.channels.set(topic, channel);
    return channel;
  }

  connect() {
    this.closedByUs = false;
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.retries = 0;
      this.onStatus(true);
      this.heartbeat = setInterval(() => {
        this.send([null, this.makeRef(), "phoenix", "heartbeat", {}]);
      }, HEARTBEAT_MS);
      // (Re)join every channel: a new connection is a new session on the server.
      for (const channel of this.channels.values()) channel.join();
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = () => {
      clearInterval(this.heartbeat);
      this.onStatus(false);
      for (const channel of this.channels.values()) channel.joined = false;
      if (!this.closedByUs) {
        const delay = Math.min(10_000, 200 * 2 ** this.retries);
        this.retries += 1;
        setTimeout(() => this.connect(), delay);
      }
    };
    this.ws = ws;
  }

  disconnect() {
    this.closedByUs = true;
    this.ws?.close();
  }

  send(frame) {
    if (this.ws?.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
    }
  }

  receive(data) {
    let message;
    if (typeof data === "string") {
      const [joinRef, ref, topic, event, payload] = JSON.parse(data);
      message = { joinRef, ref, topic, event, payload };
    } else {
      message = decodeBinary(data);
      if (message === null) return;
    }
    if (message.event === "phx_reply" && this.pending.has(message.ref)) {
      const resolve = this.pending.get(message.ref);
      this.pending.delete(message.ref);
      resolve(message.payload);
      return;
    }
    this.channels.get(message.topic)?.dispatch(message);
  }
}
