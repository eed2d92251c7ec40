export { OciRegistryClient, OciClientError, parseBearerChallenge, digestFile, sha256Of, scopeOf, type RegistryAuth, type BlobSource } from './registry-client';
export { parseImageReference, type ImageReference } from './reference';
export { pushVmTemplate, pullVmTemplate, type PulledVmTemplate, type VmTemplateFiles } from './vm-template';
