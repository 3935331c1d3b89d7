// What a Node team would pick: socket.io with its Redis adapter (the same relay semantics
// as bench/baselines/socketio_redis.py).  Run one or more against one Redis: the adapter
// publishes every room broadcast to Redis, and each process delivers it to its own
// members of the room.  WebSocket transport only, no compression, loopback only.
//
// Events: `join` {room} (acknowledged) puts the client in the room; `msg` {room, text, ...}
// is emitted to the room, the sender included.
//
//     node server.js PORT REDIS_URL
"use strict";

const http = require("http");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

async function main() {
  const port = Number(process.argv[2]);
  const redisUrl = process.argv[3];
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const io = new Server({
    transports: ["websocket"],
    perMessageDeflate: false,
    httpCompression: false,
    maxHttpBufferSize: 65536,
    cors: { origin: "*" },
    adapter: createAdapter(pub, sub),
  });
  io.on("connection", (socket) => {
    socket.on("join", async (data, ack) => {
      await socket.join(data.room);
      if (typeof ack === "function") ack(true);
    });
    socket.on("msg", (data) => {
      io.to(data.room).emit("msg", data);
    });
  });
  // io.listen(port) would bind every address: bind an http server to loopback only
  const server = http.createServer();
  io.attach(server);
  server.listen(port, "127.0.0.1", 4096);
  const stop = async () => {
    io.close();
    await Promise.allSettled([pub.quit(), sub.quit()]);
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
