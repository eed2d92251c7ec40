import { z } from 'zod';
import { tryParseDigest } from './digest';
import { OciError } from './oci-error';

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

/** The spec's limit, and what every client expects us to enforce. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

const DescriptorSchema = z.object({
  mediaType: z.string().min(1).max(255),
  digest: z.string().refine((value) => tryParseDigest(value) !== null, 'invalid digest'),
  size: z.number().int().nonnegative(),
  artifactType: z.string().max(255).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  urls: z.array(z.string()).optional(),
});
type Descriptor = z.infer<typeof DescriptorSchema>;

const ImageManifestSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().max(255).optional(),
  config: DescriptorSchema,
  layers: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const IndexSchema = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  artifactType: z.string().max(255).optional(),
  manifests: z.array(DescriptorSchema),
  subject: DescriptorSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

/** What the registry needs to know about a manifest to store, link and collect it. */
export interface ParsedManifest {
  mediaType: string;
  /** Blobs (config, layers) that must be present in the repository. */
  blobs: string[];
  /** Child manifests (of an index) that must be present in the repository. */
  manifests: string[];
  subject: string | null;
  /** `artifactType`, else (image manifests) the config's media type, as the referrers API reports it. */
  artifactType: string | null;
  annotations: Record<string, string> | null;
}

/**
 * Validates a manifest body against the media type the client declared in Content-Type.
 * Only schema 2 / OCI manifests and indexes are accepted (schema 1 is long deprecated).
 */
export function parseManifest(body: Buffer, contentType: string | undefined): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    throw new OciError('MANIFEST_INVALID', 'manifest is not valid JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new OciError('MANIFEST_INVALID', 'manifest must be a JSON object');
  const declared = (json as { mediaType?: unknown }).mediaType;
  const headerType = contentType?.split(';')[0]?.trim();
  const mediaType = headerType && headerType !== 'application/json' && headerType !== 'application/octet-stream' ? headerType : declared;
  if (typeof mediaType !== 'string') throw new OciError('MANIFEST_INVALID', 'manifest media type is missing (Content-Type or mediaType)');
  if (typeof declared === 'string' && declared !== mediaType) {
    throw new OciError('MANIFEST_INVALID', 'mediaType in the manifest does not match Content-Type', { contentType: mediaType, mediaType: declared });
  }

  if (mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.dockerManifest) {
    const result = ImageManifestSchema.safeParse(json);
    if (!result.success) throw invalid(result.error);
    const manifest = result.data;
    if (mediaType === MediaTypes.dockerManifest && manifest.subject) throw new OciError('MANIFEST_INVALID', 'docker manifests cannot have a subject');
    return {
      mediaType,
      // Foreign layers (with `urls`) live elsewhere by definition.
      blobs: [manifest.config.digest, ...manifest.layers.filter((layer) => !layer.urls?.length).map((layer: Descriptor) => layer.digest)],
      manifests: [],
      subject: manifest.subject?.digest ?? null,
      artifactType: manifest.artifactType ?? manifest.config.mediaType,
      annotations: manifest.annotations ?? null,
    };
  }
  if (mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList) {
    const result = IndexSchema.safeParse(json);
    if (!result.success) throw invalid(result.error);
    const index = result.data;
    return {
      mediaType,
      blobs: [],
      manifests: index.manifests.map((child) => child.digest),
      subject: index.subject?.digest ?? null,
      artifactType: index.artifactType ?? null,
      annotations: index.annotations ?? null,
    };
  }
  throw new OciError('MANIFEST_INVALID', `unsupported manifest media type ${mediaType}`, { mediaType }, 415);
}

function invalid(error: z.ZodError): OciError {
  return new OciError(
    'MANIFEST_INVALID',
    'manifest does not match its schema',
    error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })),
  );
}
