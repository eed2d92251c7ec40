import { access, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode, GureumError } from '@gureum/contracts';
import { OciClientError } from '@gureum/oci-client';
import { saveVmTemplate, type PushVmTemplate, type SnapshotExporter } from './save-vm-template';

const WORKLOAD = '6f1c2a9e-3b7d-4c1e-9a2b-1d2e3f4a5b6c';
const request = { workloadId: WORKLOAD, snapshot: 's1', image: '127.0.0.1:5000/acme/tpl:v1', pushAuth: { registry: '127.0.0.1:5000', token: 'tok' } };

function exporter(calls: string[]): SnapshotExporter {
  return {
    async exportSnapshot(handleId, name, outPath) {
      calls.push(`export ${handleId} ${name}`);
      await writeFile(outPath, 'qcow2 bytes');
      return { template: { name: 'tiny', kernelPath: '/t/vmlinuz', initrdPath: '/t/initrd.gz', diskPath: '/t/disk.qcow2', cmdline: 'console=ttyS0' }, diskPath: outPath };
    },
  };
}

describe('saveVmTemplate', () => {
  it('pushes kernel, initrd and the exported disk with the token, then removes the export', async () => {
    const calls: string[] = [];
    let exported = '';
    const push: PushVmTemplate = async (ref, auth, template) => {
      exported = template.files.disk!;
      calls.push(`push ${ref} ${JSON.stringify(auth)} ${template.files.kernel} ${template.files.initrd} ${template.config.cmdline} ${template.config.bootMode}`);
      return { digest: `sha256:${'a'.repeat(64)}`, manifest: {} as never, repository: 'acme/tpl', reference: 'v1' };
    };
    const saved = await saveVmTemplate(exporter(calls), request, { push });
    expect(saved).toEqual({ image: request.image, digest: `sha256:${'a'.repeat(64)}`, diskBytes: 11 });
    expect(calls).toEqual([`export ${WORKLOAD} s1`, 'push 127.0.0.1:5000/acme/tpl:v1 {"token":"tok"} /t/vmlinuz /t/initrd.gz console=ttyS0 kernel']);
    expect(path.basename(exported)).toBe('disk.qcow2');
    await expect(access(exported)).rejects.toThrow();
  });

  it('maps a storage-quota refusal to quota_exceeded and other push failures to unavailable', async () => {
    const refuse = (error: Error): PushVmTemplate => () => Promise.reject(error);
    const quota = saveVmTemplate(exporter([]), request, { push: refuse(new OciClientError('upload: 403 DENIED storage quota of tenant acme exceeded', 403, 'DENIED')) });
    await expect(quota).rejects.toMatchObject({ code: ErrorCode.QuotaExceeded });
    const denied = saveVmTemplate(exporter([]), request, { push: refuse(new OciClientError('upload: 403 DENIED', 403, 'DENIED')) });
    await expect(denied).rejects.toMatchObject({ code: ErrorCode.Forbidden });
    const down = saveVmTemplate(exporter([]), request, { push: refuse(new Error('ECONNREFUSED')) });
    await expect(down).rejects.toMatchObject({ code: ErrorCode.Unavailable });
  });

  it('refuses a reference outside the registry the token is for, before exporting anything', async () => {
    const calls: string[] = [];
    const attempt = saveVmTemplate(exporter(calls), { ...request, image: 'evil.example:5000/acme/tpl:v1' });
    await expect(attempt).rejects.toBeInstanceOf(GureumError);
    await expect(attempt).rejects.toMatchObject({ code: ErrorCode.ValidationFailed });
    expect(calls).toEqual([]);
  });
});
