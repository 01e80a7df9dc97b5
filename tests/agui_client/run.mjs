// Drive an AG-UI agent with AG-UI's own client, as a front end does: one HttpAgent, one user message per turn.
// Usage: node run.mjs '{"url": ..., "threadId": ..., "headers": {...}, "state": {...}, "turns": ["...", ...]}'
// A turn written {"text": "...", "cancelInterrupts": true} first gives up the interrupts the last run left (the
// client refuses to run on a thread whose interrupts are not answered).
// Prints a JSON list, one entry per turn: the events the client saw (after its own checks), the messages and
// the state it holds after the turn, and the error it raised (null when the run went through).
import { HttpAgent } from "@ag-ui/client";

const spec = JSON.parse(process.argv[2]);
const agent = new HttpAgent({
  url: spec.url,
  headers: spec.headers ?? {},
  threadId: spec.threadId,
  initialState: spec.state ?? {},
});
const turns = [];
for (const turn of spec.turns) {
  const { text, cancelInterrupts } = typeof turn === "string" ? { text: turn } : turn;
  const resume = cancelInterrupts
    ? agent.pendingInterrupts.map((interrupt) => ({ interruptId: interrupt.id, status: "cancelled" }))
    : undefined;
  agent.addMessage({ id: crypto.randomUUID(), role: "user", content: text });
  const events = [];
  let error = null;
  let newMessages = null;
  try {
    const result = await agent.runAgent({ resume }, { onEvent: ({ event }) => void events.push(event) });
    newMessages = result.newMessages;
  } catch (exc) {
    error = String(exc?.message ?? exc);
  }
  turns.push({ events, newMessages, messages: agent.messages, state: agent.state, error });
}
process.stdout.write(JSON.stringify(turns));
