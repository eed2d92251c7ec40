import type { EntityManager } from 'typeorm';
import { queryRows, SCHEMA } from '../database/sql';
import type { Aggregation } from './aggregation';

export interface MeterDefinition {
  name: string;
  unit: string;
  source: string;
  aggregation: Aggregation;
}

/** Meters are data: read them where they are used, so a new row takes effect without a release. */
export async function loadMeters(manager: EntityManager, sourcePrefix: 'sample.' | 'lifecycle.' | 'registry.'): Promise<MeterDefinition[]> {
  return queryRows<MeterDefinition>(manager, `SELECT name, unit, source, aggregation FROM "${SCHEMA}"."meters" WHERE source LIKE $1 ORDER BY name`, [`${sourcePrefix}%`]);
}
