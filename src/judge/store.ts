import { desc, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { judgeCalibrations } from '../db/schema';
import type { Calibration } from './calibration';

/** Records the calibration a graduation run fitted (idempotent per run: a retried activity keeps the first). */
export async function saveCalibration(db: Db, tenantId: string, clusterRunId: string, calibration: Calibration): Promise<void> {
  await db.insert(judgeCalibrations).values({ tenantId, clusterRunId, calibration }).onConflictDoNothing();
}

/** The tenant's newest calibration, or null before its first judged graduation. */
export async function latestCalibration(db: Db, tenantId: string): Promise<Calibration | null> {
  const [row] = await db
    .select({ c: judgeCalibrations.calibration })
    .from(judgeCalibrations)
    .where(eq(judgeCalibrations.tenantId, tenantId))
    .orderBy(desc(judgeCalibrations.createdAt))
    .limit(1);
  return row?.c ?? null;
}
