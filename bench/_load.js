// The load of bench/http.py, with autocannon: form posts to POST /agents/{id}/runs, `session_id` spread over
// SESSIONS sessions, on CONNECTIONS keep-alive connections for SECONDS; prints one JSON line of figures.
//   node bench/_load.js URL CONNECTIONS SECONDS STREAM SESSIONS   (URL: http://127.0.0.1:PORT/agents/ID/runs)
// URL "-" with STREAM "openai": POSTs a chat.completions body instead (the model endpoint measured alone).
"use strict";
const autocannon = require("autocannon");

const [url, connections, seconds, stream, sessions] = process.argv.slice(2);
const boundary = "----stratusbench";
let sent = 0;

function form(fields) {
  let body = "";
  for (const [name, value] of Object.entries(fields)) {
    body += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  }
  return body + `--${boundary}--\r\n`;
}

const openai = stream.startsWith("openai");
const request = openai
  ? {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "gpt-4o-mini",
        messages: [{ role: "user", content: "What is the weather in Oslo?" }],
        stream: stream === "openai-stream",
      }),
    }
  : {
      method: "POST",
      headers: { "content-type": `multipart/form-data; boundary=${boundary}` },
      setupRequest: (req) => ({
        ...req,
        body: form({
          message: "What is the weather in Oslo?",
          stream: stream,
          session_id: `bench-session-${sent++ % Number(sessions)}`,
        }),
      }),
    };

autocannon(
  { url, connections: Number(connections), duration: Number(seconds), requests: [request] },
  (error, result) => {
    if (error) {
      console.error(error);
      process.exit(1);
    }
    console.log(
      JSON.stringify({
        rps: result.requests.total / (result.duration || Number(seconds)),
        p50_ms: result.latency.p50,
        p99_ms: result.latency.p99,
        ok: result["2xx"],
        non2xx: result.non2xx,
        errors: result.errors,
        timeouts: result.timeouts,
      })
    );
  }
);
