import { RunGcRequestSchema } from '@gureum/contracts';
import { z } from 'zod';

/** `GET /v1/admin/images?tenantId=`: the tenant is required (the registry lists one tenant's namespaces at a time). */
export const AdminImagesQuerySchema = z.object({ tenantId: z.uuid({ message: 'must be a tenant id (a UUID)' }) }).strict();
export type AdminImagesQuery = z.output<typeof AdminImagesQuerySchema>;

/** `POST /v1/admin/registry/gc` body: optionally override the grace period (0 collects everything unreferenced now). */
export const RunGcBodySchema = RunGcRequestSchema;
export type RunGcBody = z.output<typeof RunGcBodySchema>;
