import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nkeys } from '@nats-io/transport-node';
import { CREDENTIALS_FILE, loadAgentCredentials } from './agent-credentials';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'gureum-agent-creds-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function stored(nodeId: string, enrolled: boolean) {
  const pair = nkeys.createUser();
  return { nodeId, publicKey: pair.getPublicKey(), seed: new TextDecoder().decode(pair.getSeed()), enrolled };
}

describe('loadAgentCredentials', () => {
  it('has none before enrolment', async () => {
    expect(await loadAgentCredentials(dir, 'node-1')).toBeNull();
  });

  it('uses an enrolled key, and not one still waiting for the scheduler', async () => {
    const creds = stored('node-1', true);
    await writeFile(path.join(dir, CREDENTIALS_FILE), JSON.stringify(creds), { mode: 0o600 });
    expect(await loadAgentCredentials(dir, 'node-1')).toEqual({ nkeySeed: creds.seed, inboxPrefix: '_INBOX.agent-node-1' });
    expect((await stat(path.join(dir, CREDENTIALS_FILE))).mode & 0o777).toBe(0o600);
    await writeFile(path.join(dir, CREDENTIALS_FILE), JSON.stringify(stored('node-1', false)));
    expect(await loadAgentCredentials(dir, 'node-1')).toBeNull();
  });

  it("refuses another node's credentials and a malformed file", async () => {
    await writeFile(path.join(dir, CREDENTIALS_FILE), JSON.stringify(stored('node-2', true)));
    await expect(loadAgentCredentials(dir, 'node-1')).rejects.toThrow(/belongs to node node-2/);
    await writeFile(path.join(dir, CREDENTIALS_FILE), JSON.stringify({ nodeId: 'node-1', seed: 'nope' }));
    await expect(loadAgentCredentials(dir, 'node-1')).rejects.toThrow();
  });
});
