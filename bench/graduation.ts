import { loadConfig } from '../src/config';
import { type SharedDatasetName } from '../src/datasets/shared';
import { openDatabase } from '../src/db/client';
import { createEmbedder } from '../src/embeddings';
import { embedWithCache } from '../src/embeddings/cache';
import { evaluateGraduation } from '../src/graduation/evaluate';

/**
 * Graduation quality on the bitext sets: share of unseen traffic that approved-quality candidates serve, and their
 * intent precision (labels used only to score). Usage: npx tsx bench/graduation.ts [threshold ...]
 */
const thresholds = process.argv.slice(2).map(Number);
const config = loadConfig();
const embedder = await createEmbedder(config.embeddings);
const database = openDatabase(config.database);
await database.migrate();
const embed = (texts: string[]) => embedWithCache(database.db, embedder, texts);
for (const threshold of thresholds.length ? thresholds : [0.7, 0.8]) {
  for (const d of ['bitext-v1', 'bitext-v2'] as SharedDatasetName[]) {
    const e = await evaluateGraduation(d, embed, { cluster: { threshold } });
    console.log(
      `${d} cluster threshold ${threshold}: ${e.logged} logged, ${e.traffic} unseen, ${e.clusters} clusters; candidates ${JSON.stringify(e.candidates)}\n` +
        `  coverage ${(100 * e.coverage).toFixed(1)}% of unseen traffic at intent precision ${(100 * e.intentPrecision).toFixed(2)}%, answer agreement ${(100 * e.answerAgreement).toFixed(2)}%  (${e.seconds.toFixed(1)} s)`,
    );
    const wrong = e.perIntent.filter((p) => p.wrong > 0).slice(0, 6);
    if (wrong.length) console.log(`  wrong intents served: ${wrong.map((p) => `${p.label} ${p.wrong}/${p.served}`).join(', ')}`);
    for (const f of e.flagged) console.log(`  flagged ${f.label}: ${f.warnings.join('; ')}`);
  }
}
await database.close();
