import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, TRAINER_PYTHON, trainerEnv } from '../../src/distill/python';

/**
 * The trainer's Python unit tests (scripts/trainer/test_trainer.py: multi-turn assistant-only masking with SmolLM2's
 * chat template, left truncation keeping answer + EOS, packing masks, the LoRA FLOP count), run here so `npm test`
 * runs them. They need .venv-train and models/smollm2-135m-instruct, both made by scripts/setup.
 */
describe('trainer (Python unit tests)', () => {
  it('masking, truncation, packing and FLOPs pass', () => {
    expect(existsSync(TRAINER_PYTHON), `${TRAINER_PYTHON}: run scripts/setup`).toBe(true);
    const r = spawnSync(TRAINER_PYTHON, ['-m', 'unittest', '-v', path.join('scripts', 'trainer', 'test_trainer.py')], {
      cwd: REPO_ROOT,
      env: trainerEnv(process.env, { OMP_NUM_THREADS: process.env.OMP_NUM_THREADS ?? '2' }),
      encoding: 'utf8',
      timeout: 120_000,
    });
    const out = `${r.stdout}\n${r.stderr}`;
    expect(r.status, out.slice(-4000)).toBe(0);
    // every test ran (a silently skipped or missing class would shrink the count)
    expect(out).toMatch(/Ran 13 tests/);
    expect(out).toMatch(/\nOK\s*$/);
  }, 150_000);
});
