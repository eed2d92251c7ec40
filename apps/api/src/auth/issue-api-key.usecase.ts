import { randomUUID } from 'node:crypto';
import { ErrorCode, GureumError } from '@gureum/contracts';
import type { EntityManager } from 'typeorm';
import { generateApiKey, hashSecret } from './api-key-secret';
import { ApiKey } from './api-key.entity';
import type { ApiKeyRole } from './principal';

export interface IssueApiKeyCommand {
  /** Null only for operator keys. */
  tenantId: string | null;
  role: ApiKeyRole;
  name: string;
  expiresAt?: Date | null;
}

export interface IssuedApiKey {
  id: string;
  tenantId: string | null;
  role: ApiKeyRole;
  name: string;
  /** Shown once to whoever asked for the key; it exists nowhere else afterwards. */
  plaintext: string;
}

/** Creates a key inside the caller's transaction, storing only its prefix and scrypt hash. */
export class IssueApiKey {
  async execute(manager: EntityManager, command: IssueApiKeyCommand): Promise<IssuedApiKey> {
    if ((command.role === 'operator') !== (command.tenantId === null)) {
      throw new GureumError(ErrorCode.ValidationFailed, 'operator keys have no tenant and every other key has one');
    }
    const generated = generateApiKey();
    const key = manager.create(ApiKey, {
      id: randomUUID(),
      tenantId: command.tenantId,
      role: command.role,
      prefix: generated.prefix,
      secretHash: await hashSecret(generated.secret),
      name: command.name,
      createdAt: new Date(),
      lastUsedAt: null,
      expiresAt: command.expiresAt ?? null,
      revokedAt: null,
    });
    await manager.insert(ApiKey, key);
    return { id: key.id, tenantId: key.tenantId, role: key.role, name: key.name, plaintext: generated.plaintext };
  }
}
