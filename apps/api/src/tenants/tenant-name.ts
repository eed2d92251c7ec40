import { z } from 'zod';

/** Tenant names appear in registry paths (`<tenant>/<repo>`) and hostnames, hence DNS-label-like. */
export const TENANT_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{1,62}$/;

export const TenantNameSchema = z
  .string()
  .regex(TENANT_NAME_PATTERN, 'must be 2-63 characters: lowercase letters, digits and "-", not starting with "-"');
