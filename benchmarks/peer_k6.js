// k6's view of a Realtime-style WebSocket's time to first token, for benchmarks/peer_k6.py.
//
//   k6 run -e URL=ws://127.0.0.1:PORT/v1/realtime -e VUS=4 -e TURNS=25 -e OUT=/tmp/k6.json peer_k6.js
//
// Each VU opens one WebSocket, waits for `session.created`, then runs TURNS turns one after
// another: `conversation.item.create` (a user message) and `response.create`, then reads events
// until `response.done`. TTFT is from just before `response.create` is sent to the handler of the
// turn's first `response.output_text.delta`, both read from `exec.instance.currentTestRunDuration`
// (a float in ms with microsecond resolution; `Date.now()` has whole milliseconds only). The
// figures go to the custom Trend `realtime_ttft`; a turn whose `response.done` is not `completed`,
// or an `error` event, counts in `realtime_failed`. handleSummary writes the summary as JSON to OUT.
import exec from 'k6/execution';
import { Counter, Trend } from 'k6/metrics';
import { WebSocket } from 'k6/experimental/websockets';

const URL = __ENV.URL;
const VUS = parseInt(__ENV.VUS || '4', 10);
const TURNS = parseInt(__ENV.TURNS || '25', 10);
const PROMPT = __ENV.PROMPT || 'hello there';

const ttft = new Trend('realtime_ttft', true);
const completed = new Counter('realtime_completed');
const failed = new Counter('realtime_failed');

export const options = {
  scenarios: {
    turns: { executor: 'per-vu-iterations', vus: VUS, iterations: 1, maxDuration: '5m' },
  },
  summaryTrendStats: ['min', 'med', 'avg', 'p(95)', 'max', 'count'],
};

function now() {
  return exec.instance.currentTestRunDuration;
}

export default function () {
  const ws = new WebSocket(URL);
  let turn = 0;
  let sentAt = null;
  let first = true;

  function startTurn() {
    const item = { type: 'message', role: 'user', content: [{ type: 'input_text', text: PROMPT }] };
    ws.send(JSON.stringify({ type: 'conversation.item.create', item: item }));
    first = true;
    sentAt = now();
    ws.send(JSON.stringify({ type: 'response.create' }));
  }

  function endTurn(ok) {
    (ok ? completed : failed).add(1);
    turn += 1;
    if (turn < TURNS) {
      startTurn();
    } else {
      ws.close();
    }
  }

  ws.onmessage = (event) => {
    const at = now();
    const message = JSON.parse(event.data);
    switch (message.type) {
      case 'session.created':
        startTurn();
        break;
      case 'response.output_text.delta':
        if (first && sentAt !== null) {
          ttft.add(at - sentAt);
          first = false;
        }
        break;
      case 'response.done':
        endTurn(message.response && message.response.status === 'completed');
        break;
      case 'error':
        console.error('error event: ' + event.data);
        break;
    }
  };
  ws.onerror = (event) => {
    console.error('websocket error: ' + event.error);
  };
}

export function handleSummary(data) {
  const out = {};
  out[__ENV.OUT || 'k6-summary.json'] = JSON.stringify(data.metrics);
  return out;
}
