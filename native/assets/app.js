// The demo page: join a room under a name and see who is online, live. Presence arrives with
// beryl's CRDT sync option: the server sends the room's replication state, then deltas, and a
// beryl-presence client replica merges them, so duplicated or reordered deliveries cannot
// corrupt what the page shows.
import { PhoenixSocket } from "./channel.js";

const $ = (selector) => document.querySelector(selector);

function deviceLabel() {
  const agent = navigator.userAgent;
  if (/Mobile|Android|iPhone/.test(agent)) return "phone";
  if (/HeadlessChrome/.test(agent)) return "headless browser";
  return "browser";
}

function setStatus(text, state) {
  const status = $("#status");
  status.textContent = text;
  status.dataset.state = state;
}

async function loadPackage() {
  try {
    const beryl = await import("/pkg/dist/browser.js");
    await beryl.init();
    return beryl;
  } catch (error) {
    setStatus(
      `cannot load the beryl-presence package (${error.message}); build it with scripts/build-wasm.sh`,
      "error",
    );
    throw error;
  }
}

function render(replica, topic, me) {
  const groups = replica.list(topic);
  const list = $("#people");
  list.replaceChildren();
  for (const group of groups) {
    const item = document.createElement("li");
    item.dataset.key = group.key;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = group.key + (group.key === me ? " (you)" : "");
    const devices = document.createElement("span");
    devices.className = "devices";
    const count = group.presences.length;
    const kinds = group.presences.map((p) => p.meta.device ?? "device");
    devices.textContent = `${count} ${count === 1 ? "connection" : "connections"}: ${kinds.join(", ")}`;
    item.append(name, devices);
    list.append(item);
  }
  $("#online-count").textContent = String(groups.length);
  $("#online-label").textContent = groups.length === 1 ? "person online" : "people online";
}

async function main() {
  const beryl = await loadPackage();
  const health = await fetch("/health").then((response) => response.json());
  $("#node").textContent = health.replica.name;
  setStatus("ready", "idle");

  const params = new URLSearchParams(location.search);
  if (params.has("name")) $("#name").value = params.get("name");
  if (params.has("room")) $("#room").value = params.get("room");

  const socketUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/socket`;
  const socket = new PhoenixSocket(socketUrl, (connected) => {
    setStatus(connected ? "connected" : "reconnecting…", connected ? "ok" : "error");
  });
  socket.connect();

  let channel = null;
  let replica = null;

  const join = (name, room) => {
    channel?.leave();
    replica?.free?.();
    const topic = `room:${room}`;
    $("#room-title").textContent = topic;
    channel = socket.channel(topic, {
      key: name,
      meta: { device: deviceLabel(), joined_at: Date.now() },
      sync: "crdt",
      format: "binary",
    });
    channel
      .on("joined", () => {
        // Each join is a new client replica: its topic is fixed for its lifetime.
        replica?.free?.();
        replica = new beryl.PresenceState(`page-${crypto.randomUUID()}`);
        setStatus(`joined ${topic} as ${name}`, "ok");
        render(replica, topic, name);
      })
      .on("refused", (response) => setStatus(`refused: ${response.reason}`, "error"))
      .on("beryl_sync", (payload) => {
        if (replica === null) return;
        replica.merge(payload);
        render(replica, topic, name);
      });
    if (socket.ws?.readyState === WebSocket.OPEN) channel.join();
  };

  $("#join").addEventListener("submit", (event) => {
    event.preventDefault();
    const name = $("#name").value.trim();
    const room = $("#room").value.trim() || "lobby";
    if (name) join(name, room);
  });
  if (params.has("name")) join(params.get("name"), $("#room").value.trim() || "lobby");
}

main().catch((error) => console.error(error));
