import { Reflector } from '@nestjs/core';
import type { ApiKeyRole } from './principal';

/**
 * The roles that may call a route (on a handler it overrides its controller's). Routes
 * without it are refused: access is granted explicitly, never by omission.
 */
export const AllowRoles = Reflector.createDecorator<readonly ApiKeyRole[]>();

export const TENANT_READERS = ['owner', 'member', 'viewer'] as const satisfies readonly ApiKeyRole[];
export const TENANT_WRITERS = ['owner', 'member'] as const satisfies readonly ApiKeyRole[];
