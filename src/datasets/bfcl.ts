import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Berkeley Function Calling Leaderboard data (PyPI `bfcl-eval`, Apache-2.0): real user questions with the tool
 * schemas offered, and for the `live_simple` set the ground-truth call. Not committed: `bench/fetch-bfcl.sh` unpacks
 * the wheel into .data/bfcl (or set DISTILLERY_BFCL_DIR). The ground truth only scores; it never feeds a pipeline.
 */
export const BFCL_DIR = process.env.DISTILLERY_BFCL_DIR ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../.data/bfcl/bfcl_eval/data');

export interface BfclQuestion {
  id: string;
  query: string;
  functions: Array<{ name: string; description?: string; parameters?: unknown }>;
}

export function loadBfcl(set: 'irrelevance' | 'live_irrelevance' | 'live_simple', dir = BFCL_DIR): BfclQuestion[] {
  let text: string;
  try {
    text = readFileSync(path.join(dir, `BFCL_v4_${set}.json`), 'utf8');
  } catch {
    throw new Error(`bfcl-eval data not found under ${dir}: run bench/fetch-bfcl.sh (or set DISTILLERY_BFCL_DIR)`);
  }
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const r = JSON.parse(l) as { id: string; question: Array<Array<{ role: string; content: string }>>; function: BfclQuestion['functions'] };
      const user = r.question.flat().filter((m) => m.role === 'user');
      return { id: r.id, query: user[user.length - 1]?.content ?? '', functions: r.function };
    })
    .filter((q) => q.query.trim() !== '');
}
