/**
 * `toolLoops: 'once'`: a tool loop is logged as one interaction. A turn whose answer calls tools is held back; the
 * next turn that answers those calls (its messages carry `tool` messages with their ids) continues the loop, and
 * the turn with the final answer is logged with the whole history, the summed latency and, in
 * `metadata.tool_loop`, each turn's latency and token usage. A held turn nobody continues is logged as it is after
 * `waitMs` or at `flush()`, so nothing is lost.
 */

type Obj = Record<string, unknown>;

export interface TurnRecord {
  key: string;
  record: Obj & { latency_ms: number; metadata?: Obj; request: unknown; response: unknown };
}

interface Held {
  turn: TurnRecord;
  steps: Array<{ latency_ms: number; usage: unknown }>;
  timer: ReturnType<typeof setTimeout>;
  ids: string[];
}

const toolCallIds = (response: unknown): string[] => {
  const m = ((response as Obj)?.choices as Obj[] | undefined)?.[0]?.message as Obj | undefined;
  return Array.isArray(m?.tool_calls) ? (m.tool_calls as Obj[]).map((c) => c.id).filter((id): id is string => typeof id === 'string') : [];
};

const answeredIds = (request: unknown): string[] => {
  const msgs = (request as Obj)?.messages;
  return Array.isArray(msgs)
    ? (msgs as Obj[]).filter((m) => m?.role === 'tool' && typeof m.tool_call_id === 'string').map((m) => m.tool_call_id as string)
    : [];
};

export class ToolLoopLog {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly post: (turn: TurnRecord) => void,
    private readonly waitMs: number,
  ) {}

  /** One model turn: held when it calls tools, else posted (merged with the turns it continues). */
  turn(t: TurnRecord): void {
    const prior = this.take(answeredIds(t.record.request));
    const steps = [...(prior?.steps ?? []), { latency_ms: t.record.latency_ms, usage: (t.record.response as Obj)?.usage ?? null }];
    const ids = toolCallIds(t.record.response);
    if (ids.length) {
      // A snapshot: a tool runner appends to the same messages array when it continues.
      const held: Held = { turn: snapshot(t), steps, ids, timer: setTimeout(() => this.release(held), this.waitMs) };
      held.timer.unref?.();
      for (const id of ids) this.held.set(id, held);
      return;
    }
    this.post(steps.length > 1 ? merged(t, steps) : t);
  }

  /** Posts every held turn as it is (flush, process exit). */
  releaseAll(): void {
    for (const h of new Set(this.held.values())) this.release(h);
  }

  private take(ids: string[]): Held | undefined {
    for (const id of ids) {
      const h = this.held.get(id);
      if (!h) continue;
      clearTimeout(h.timer);
      for (const x of h.ids) this.held.delete(x);
      return h;
    }
    return undefined;
  }

  private release(h: Held): void {
    if (!h.ids.some((id) => this.held.get(id) === h)) return;
    clearTimeout(h.timer);
    for (const x of h.ids) this.held.delete(x);
    this.post(h.steps.length > 1 ? merged(h.turn, h.steps) : h.turn);
  }
}

function snapshot(t: TurnRecord): TurnRecord {
  try {
    return { key: t.key, record: JSON.parse(JSON.stringify(t.record)) as TurnRecord['record'] };
  } catch {
    return t; // not JSON-able: post() reports it when the turn is logged
  }
}

function merged(t: TurnRecord, steps: Array<{ latency_ms: number; usage: unknown }>): TurnRecord {
  const latency = steps.reduce((a, s) => a + s.latency_ms, 0);
  return { key: t.key, record: { ...t.record, latency_ms: latency, metadata: { ...(t.record.metadata ?? {}), tool_loop: { turns: steps.length, steps } } } };
}
