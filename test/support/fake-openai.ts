/**
 * A deterministic OpenAI-compatible server of the tests' own, for the hosted fine-tuning runner: files, fine-tuning
 * jobs (with Idempotency-Key), cancel, and chat completions. The real `openai` client talks to it over HTTP.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UploadedFile {
  id: string;
  filename: string;
  purpose: string;
  content: string;
}

/** How a hosted job moves: the status each successive GET returns (the last one repeats), and the error on failure. */
export interface JobPlan {
  statuses: string[];
  error?: { code: string; message: string; param: string | null };
}

export interface HostedJob {
  id: string;
  body: Record<string, unknown>;
  idempotencyKey: string | undefined;
  plan: JobPlan;
  polls: number;
  cancelled: boolean;
}

export interface FakeOpenAI {
  /** Base URL to give the client (ends in /v1). */
  baseURL: string;
  files: UploadedFile[];
  jobs: HostedJob[];
  /** Every request, in order: method and path. */
  requests: Array<{ method: string; path: string; headers: IncomingMessage['headers'] }>;
  /** Every POST /v1/fine_tuning/jobs as received (a replay with a known Idempotency-Key is listed too). */
  createRequests: Array<{ body: Record<string, unknown>; idempotencyKey: string | undefined }>;
  chatRequests: Array<Record<string, unknown>>;
  /** The plan a newly created job follows; tests replace it. */
  planFor: (body: Record<string, unknown>) => JobPlan;
  /** The deterministic answer to a chat request. */
  answer: (model: string, messages: Array<{ role: string; content: string }>) => string;
  close(): Promise<void>;
}

export const DEFAULT_PLAN: JobPlan = { statuses: ['validating_files', 'queued', 'running', 'running', 'succeeded'] };

export async function startFakeOpenAI(): Promise<FakeOpenAI> {
  const byKey = new Map<string, HostedJob>();
  const state: FakeOpenAI = {
    baseURL: '',
    files: [],
    jobs: [],
    requests: [],
    createRequests: [],
    chatRequests: [],
    planFor: () => DEFAULT_PLAN,
    answer: (model, messages) => `${model} answers: ${[...messages].reverse().find((m) => m.role === 'user')?.content ?? ''}`,
    close: async () => undefined,
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => send(res, 500, { error: { message: String(err) } }));
  });

  function send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const p of req) parts.push(p as Buffer);
    return Buffer.concat(parts);
  }

  function jobObject(j: HostedJob): Record<string, unknown> {
    const status = j.cancelled ? 'cancelled' : (j.plan.statuses[Math.min(Math.max(j.polls - 1, 0), j.plan.statuses.length - 1)] ?? 'queued');
    const hp = ((j.body.method as { supervised?: { hyperparameters?: Record<string, unknown> } } | undefined)?.supervised?.hyperparameters ?? {}) as Record<
      string,
      unknown
    >;
    return {
      id: j.id,
      object: 'fine_tuning.job',
      created_at: 1_760_000_000,
      finished_at: status === 'succeeded' ? 1_760_000_100 : null,
      model: j.body.model,
      training_file: j.body.training_file,
      validation_file: null,
      seed: j.body.seed,
      hyperparameters: hp,
      organization_id: 'org-test',
      status,
      fine_tuned_model: status === 'succeeded' ? `ft:${String(j.body.model)}:test:${String(j.body.suffix)}:${j.id}` : null,
      trained_tokens: status === 'succeeded' ? 12_345 : null,
      result_files: status === 'succeeded' ? [`file-result-${j.id}`] : [],
      error: status === 'failed' ? (j.plan.error ?? null) : null,
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const p = url.pathname;
    state.requests.push({ method: req.method ?? '', path: p, headers: req.headers });
    const raw = await readBody(req);

    if (req.method === 'POST' && p === '/v1/files') {
      const form = await new Request('http://localhost/v1/files', {
        method: 'POST',
        headers: { 'content-type': String(req.headers['content-type']) },
        body: raw,
      }).formData();
      const file = form.get('file');
      if (!file || typeof file === 'string') return send(res, 400, { error: { message: 'file is required' } });
      const purpose = String(form.get('purpose') ?? '');
      if (purpose !== 'fine-tune') return send(res, 400, { error: { message: `unexpected purpose ${purpose}` } });
      const f: UploadedFile = { id: `file-${state.files.length + 1}`, filename: file.name, purpose, content: await file.text() };
      state.files.push(f);
      return send(res, 200, {
        id: f.id,
        object: 'file',
        bytes: Buffer.byteLength(f.content),
        created_at: 1_760_000_000,
        filename: f.filename,
        purpose,
        status: 'processed',
      });
    }

    if (req.method === 'POST' && p === '/v1/fine_tuning/jobs') {
      const body = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
      const key = req.headers['idempotency-key'] as string | undefined;
      state.createRequests.push({ body, idempotencyKey: key });
      if (!state.files.some((f) => f.id === body.training_file)) return send(res, 400, { error: { message: `no file ${String(body.training_file)}` } });
      const known = key ? byKey.get(key) : undefined;
      if (known) return send(res, 200, jobObject(known));
      const job: HostedJob = { id: `ftjob-${state.jobs.length + 1}`, body, idempotencyKey: key, plan: state.planFor(body), polls: 0, cancelled: false };
      state.jobs.push(job);
      if (key) byKey.set(key, job);
      return send(res, 200, jobObject(job));
    }

    const m = /^\/v1\/fine_tuning\/jobs\/([^/]+)(\/cancel)?$/.exec(p);
    if (m) {
      const job = state.jobs.find((j) => j.id === m[1]);
      if (!job) return send(res, 404, { error: { message: `no job ${m[1]}` } });
      if (req.method === 'GET' && !m[2]) {
        job.polls++;
        return send(res, 200, jobObject(job));
      }
      if (req.method === 'POST' && m[2]) {
        job.cancelled = true;
        return send(res, 200, jobObject(job));
      }
    }

    if (req.method === 'POST' && p === '/v1/chat/completions') {
      const body = JSON.parse(raw.toString('utf8')) as { model: string; messages: Array<{ role: string; content: string }> };
      state.chatRequests.push(body as unknown as Record<string, unknown>);
      const content = state.answer(body.model, body.messages);
      return send(res, 200, {
        id: `chatcmpl-${state.chatRequests.length}`,
        object: 'chat.completion',
        created: 1_760_000_000,
        model: body.model,
        choices: [{ index: 0, finish_reason: 'stop', logprobs: null, message: { role: 'assistant', content, refusal: null } }],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      });
    }

    send(res, 404, { error: { message: `no route ${req.method} ${p}` } });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
