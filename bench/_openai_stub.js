// A local OpenAI-format chat.completions endpoint for bench/http.py: canned answers, buffered or streamed
// (SSE, usage in the last chunk), so fast that the servers calling it are what the benchmark measures.
//   node bench/_openai_stub.js PORT
"use strict";
const http = require("http");

const created = Math.floor(Date.now() / 1000);
const usage = { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 };
const completion = Buffer.from(
  JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion",
    created,
    model: "gpt-4o-mini",
    choices: [{ index: 0, message: { role: "assistant", content: "It is sunny." }, finish_reason: "stop" }],
    usage,
  })
);
const chunk = (delta, finish, withUsage) =>
  "data: " +
  JSON.stringify({
    id: "chatcmpl-bench",
    object: "chat.completion.chunk",
    created,
    model: "gpt-4o-mini",
    choices: withUsage ? [] : [{ index: 0, delta, finish_reason: finish }],
    ...(withUsage ? { usage } : {}),
  }) +
  "\n\n";
const stream = Buffer.from(
  chunk({ role: "assistant", content: "" }, null) +
    chunk({ content: "It is " }, null) +
    chunk({ content: "sunny." }, null) +
    chunk({}, "stop") +
    chunk(null, null, true) +
    "data: [DONE]\n\n"
);

http
  .createServer((req, res) => {
    const parts = [];
    req.on("data", (part) => parts.push(part));
    req.on("end", () => {
      if (!req.url.endsWith("/chat/completions")) {
        res.writeHead(404, { "content-type": "application/json" });
        res.end('{"error":{"message":"not found"}}');
        return;
      }
      const streamed = /"stream"\s*:\s*true/.test(Buffer.concat(parts).toString());
      const body = streamed ? stream : completion;
      res.writeHead(200, {
        "content-type": streamed ? "text/event-stream" : "application/json",
        "content-length": body.length,
      });
      res.end(body);
    });
  })
  .listen(Number(process.argv[2]), "127.0.0.1", () => console.log("ready"));
