import { randomBytes, randomUUID } from 'node:crypto';
import { ErrorCode, GureumError } from '@gureum/contracts';
import { QueryFailedError, type EntityManager } from 'typeorm';
import { hashSecret } from '../auth/api-key-secret';
import { normaliseLogin } from '../auth/password-authenticator';
import type { ApiKeyRole } from '../auth/principal';
import { User, type LoginScope } from './user.entity';

export interface CreateUserCommand {
  login: string;
  /** Null for operators. */
  tenantId: string | null;
  role: ApiKeyRole;
  /** Omitted: a random one-time password is generated and returned once. */
  password?: string;
  /**
   * `global` (default): created by an operator (operators, a new tenant's owner); unique among
   * global logins. `tenant`: invited by an owner; unique within the tenant only, so the answer
   * never depends on other tenants' users.
   */
  loginScope?: LoginScope;
}

export interface CreatedUser {
  id: string;
  login: string;
  tenantId: string | null;
  role: ApiKeyRole;
  /** The initial password, returned only when it was generated here. */
  initialPassword?: string;
}

export const MIN_PASSWORD_LENGTH = 12;

/** Creates a user inside the caller's transaction; only the scrypt hash of the password is stored. */
export class CreateUser {
  async execute(manager: EntityManager, command: CreateUserCommand): Promise<CreatedUser> {
    if ((command.role === 'operator') !== (command.tenantId === null)) {
      throw new GureumError(ErrorCode.ValidationFailed, 'operators have no tenant and every other user has one');
    }
    const loginScope = command.loginScope ?? 'global';
    if (loginScope === 'tenant' && command.tenantId === null) throw new GureumError(ErrorCode.ValidationFailed, 'operators have global logins');
    if (command.password !== undefined && command.password.length < MIN_PASSWORD_LENGTH) {
      throw new GureumError(ErrorCode.ValidationFailed, `a password needs at least ${MIN_PASSWORD_LENGTH} characters`);
    }
    const generated = command.password === undefined ? randomBytes(18).toString('base64url') : undefined;
    const password = command.password ?? generated!;
    const user = manager.create(User, {
      id: randomUUID(),
      login: normaliseLogin(command.login),
      tenantId: command.tenantId,
      loginScope,
      role: command.role,
      passwordHash: await hashSecret(password),
      createdAt: new Date(),
    });
    try {
      await manager.insert(User, user);
    } catch (error) {
      if (error instanceof QueryFailedError && (error.driverError as { code?: unknown } | undefined)?.code === '23505') {
        throw new GureumError(ErrorCode.Conflict, `a user with login "${user.login}" already exists${loginScope === 'tenant' ? ' in this tenant' : ''}`);
      }
      throw error;
    }
    return { id: user.id, login: user.login, tenantId: user.tenantId, role: user.role, ...(generated ? { initialPassword: generated } : {}) };
  }
}
