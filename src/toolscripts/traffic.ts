import { createHash } from 'node:crypto';
import { type LabelledExample, loadSharedDataset, toLogRecord } from '../datasets/shared';
import { normalizeQuery } from '../serving/normalize';
import { ORDER_TOOLS, teacherLoop } from './stub-world';
import { type TraceCall, toolLoopMessages } from './trace';

/**
 * Repeated tool-using traffic over the shared customer-support sets: real queries that carry an order number
 * (tracking and cancelling), each logged as the teacher agent's tool loop against the stub order system, with a
 * fresh order number per repetition so no two interactions are equal. Intents that need no tool (refunds) and a
 * neighbour that carries order numbers but is answered in text (changing an order) are logged as plain answers.
 * The label picks the data and scores the outcome; it is never in a record.
 */

export type TrafficKind = 'track' | 'cancel' | 'change' | 'refund';
const LABELS: Record<TrafficKind, string> = { track: 'track_order', cancel: 'cancel_order', change: 'change_order', refund: 'get_refund' };

export interface TrafficItem {
  kind: TrafficKind;
  query: string;
  /** What the pipeline logs: the openai-client shape (a tool loop for track/cancel). */
  record: Record<string, unknown>;
  /** The teacher's tool calls and answer (empty calls for text answers): for scoring only. */
  teacher: { calls: TraceCall[]; answer: string };
}

const hash = (s: string) => createHash('sha256').update(s).digest().readUInt32BE(0);

/** The query with its order number replaced by `id` (the masking finds it; the rest of the text is kept). */
export function withOrderNumber(query: string, id: string): string | undefined {
  const slot = normalizeQuery(query).slots.find((s) => s.type === 'id');
  return slot ? query.slice(0, slot.start) + id + query.slice(slot.end) : undefined;
}

export function supportTraffic(opts: {
  perKind: Partial<Record<TrafficKind, number>>;
  seed: string;
  offset?: number;
  data?: LabelledExample[];
}): TrafficItem[] {
  const data = opts.data ?? loadSharedDataset('bitext-v1');
  const out: TrafficItem[] = [];
  let n = opts.offset ?? 0;
  for (const kind of Object.keys(opts.perKind) as TrafficKind[]) {
    const tooled = kind === 'track' || kind === 'cancel';
    // Tool loops need an order number in the query to look up.
    const pool = data.filter((e) => e.label === LABELS[kind] && (!tooled || withOrderNumber(e.query, '1') !== undefined));
    const count = opts.perKind[kind] ?? 0;
    for (let i = 0; i < count; i++) {
      const ex = pool[hash(`${opts.seed}:${kind}:${i}`) % pool.length]!;
      const key = `${opts.seed}-${kind}-${i}`;
      if (tooled) {
        const id = String(10_000_000 + (hash(`id:${key}`) % 89_999_999));
        const query = withOrderNumber(ex.query, id)!;
        const loop = teacherLoop(kind, id);
        const { messages, answer } = toolLoopMessages(query, loop.calls, loop.answer, 'You are a helpful customer support assistant.');
        out.push({
          kind,
          query,
          teacher: loop,
          record: {
            idempotency_key: key,
            created_at: new Date(Date.UTC(2026, 9, 1) + n++ * 60_000).toISOString(),
            request: { model: 'gpt-4o', messages, tools: ORDER_TOOLS },
            response: { id: `chatcmpl-${key}`, object: 'chat.completion', model: 'gpt-4o', choices: [{ index: 0, message: answer, finish_reason: 'stop' }] },
            feedback: { kind: 'accepted' },
          },
        });
      } else {
        out.push({ kind, query: ex.query, teacher: { calls: [], answer: ex.answer }, record: { ...toLogRecord(ex, n++), idempotency_key: key } });
      }
    }
  }
  return out;
}
