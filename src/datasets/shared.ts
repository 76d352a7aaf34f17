import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';

/**
 * The public labelled data sets in ../shared/data, read as logs of real queries and accepted answers. The label is
 * returned beside each example for scoring only: nothing here puts it into a record the pipeline sees.
 */
export const SHARED_DATA_DIR = process.env.DISTILLERY_SHARED_DATA ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data');

export const SHARED_DATASETS = ['bitext-v1', 'bitext-v2', 'banking77', 'hwu64'] as const;
export type SharedDatasetName = (typeof SHARED_DATASETS)[number];

export interface LabelledExample {
  query: string;
  /** The accepted answer; data sets without answers (banking77, hwu64) answer with the intent's canned reply. */
  answer: string;
  label: string;
}

export function loadSharedDataset(name: SharedDatasetName, dir = SHARED_DATA_DIR): LabelledExample[] {
  const file = (p: string) => {
    try {
      return readFileSync(path.join(dir, p), 'utf8');
    } catch {
      throw new Error(`shared data set ${name} not found under ${dir}: set DISTILLERY_SHARED_DATA to the data folder`);
    }
  };
  switch (name) {
    case 'bitext-v1':
    case 'bitext-v2': {
      const csv = file(`bitext-customer-support/${name === 'bitext-v1' ? 'bitext_cs_v1_gpt35_2023-08-07.csv' : 'bitext_cs_v2_2023-08-18.csv'}`);
      const rows = parse(csv, { columns: true, skip_empty_lines: true }) as Array<Record<string, string>>;
      return rows.map((r) => ({ query: r.instruction!, answer: r.response!, label: r.intent! }));
    }
    case 'banking77': {
      const rows = parse(file('banking77/train.csv'), { columns: true, skip_empty_lines: true }) as Array<Record<string, string>>;
      return rows.map((r) => ({ query: r.text!, answer: cannedAnswer(r.category!), label: r.category! }));
    }
    case 'hwu64': {
      const texts = file('hwu64/train/seq.in').split('\n');
      const labels = file('hwu64/train/label').split('\n');
      return texts.flatMap((t, i) => (t.trim() && labels[i] ? [{ query: t.trim(), answer: cannedAnswer(labels[i]!.trim()), label: labels[i]!.trim() }] : []));
    }
  }
}

function cannedAnswer(label: string): string {
  return `Handled as ${label.replace(/_/g, ' ')}.`;
}

/**
 * An interaction log record (OpenAI request/response shape) for one example, as a teacher log would carry it.
 * `index` makes ids and times deterministic, so the same data set always yields the same records.
 */
export function toLogRecord(ex: LabelledExample, index: number, opts: { model?: string; start?: Date; accepted?: boolean } = {}) {
  const model = opts.model ?? 'gpt-4o';
  const created = new Date((opts.start ?? new Date('2026-10-01T00:00:00Z')).getTime() + index * 60_000);
  return {
    created_at: created.toISOString(),
    request: {
      model,
      messages: [
        { role: 'system', content: 'You are a helpful customer support assistant.' },
        { role: 'user', content: ex.query },
      ],
    },
    response: {
      id: `chatcmpl-shared-${index}`,
      object: 'chat.completion',
      created: Math.floor(created.getTime() / 1000),
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: ex.answer }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 20 + Math.ceil(ex.query.length / 4), completion_tokens: Math.ceil(ex.answer.length / 4) },
    },
    latency_ms: 400 + (index % 700),
    ...(opts.accepted === false ? {} : { feedback: { kind: 'accepted' as const } }),
  };
}
