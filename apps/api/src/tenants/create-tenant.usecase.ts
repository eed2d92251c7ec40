import { randomUUID } from 'node:crypto';
import { ErrorCode, GureumError, parseOrThrow } from '@gureum/contracts';
import { QueryFailedError, type DataSource, type EntityManager } from 'typeorm';
import { IssueApiKey } from '../auth/issue-api-key.usecase';
import { Tenant } from './tenant.entity';
import { TenantNameSchema } from './tenant-name';

export interface CreatedTenant {
  id: string;
  name: string;
  owner: { keyId: string; apiKey: string };
}

/** A tenant is born with one owner key, in one transaction, so it is never left without a way in. */
export class CreateTenant {
  constructor(
    private readonly dataSource: DataSource,
    private readonly issueApiKey = new IssueApiKey(),
  ) {}

  async execute(command: { name: string }): Promise<CreatedTenant> {
    return this.executeWith(command, async () => null);
  }

  /** Also runs `more` in the same transaction (e.g. the first owner user), so nothing is half-created. */
  async executeWith<T>(command: { name: string }, more: (manager: EntityManager, tenantId: string) => Promise<T>): Promise<CreatedTenant & { extra: T }> {
    const name = parseOrThrow(TenantNameSchema, command.name, 'tenant name');
    try {
      return await this.dataSource.transaction(async (manager) => {
        const created = await this.createIn(manager, name);
        return { ...created, extra: await more(manager, created.id) };
      });
    } catch (error) {
      if (error instanceof GureumError) throw error;
      if (isUniqueViolation(error)) throw new GureumError(ErrorCode.Conflict, `a tenant named "${name}" already exists`);
      throw error;
    }
  }

  async createIn(manager: EntityManager, name: string): Promise<CreatedTenant> {
    const tenant = manager.create(Tenant, { id: randomUUID(), name, status: 'active', createdAt: new Date() });
    await manager.insert(Tenant, tenant);
    const owner = await this.issueApiKey.execute(manager, { tenantId: tenant.id, role: 'owner', name: `${name} owner` });
    return { id: tenant.id, name: tenant.name, owner: { keyId: owner.id, apiKey: owner.plaintext } };
  }
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof QueryFailedError && (error.driverError as { code?: unknown } | undefined)?.code === '23505';
}
