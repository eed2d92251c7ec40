import { spawn, type ChildProcess } from 'node:child_process';
import { freePort, natsServerBinary, startNats, type TestNats } from '@gureum/testing';
import { connectNatsPatiently } from './connection';

let server: ChildProcess | null = null;
let nats: TestNats | null = null;

afterEach(async () => {
  server?.kill('SIGKILL');
  server = null;
  await nats?.stop();
  nats = null;
});

it('waits for a broker that is not up yet instead of failing the first connection', async () => {
  const port = await freePort();
  const retries: number[] = [];
  const connecting = connectNatsPatiently({ url: `nats://127.0.0.1:${port}`, name: 'patient' }, { giveUpAfterMs: 20_000, onRetry: (_error, attempt) => retries.push(attempt) });
  // The broker comes up only once the client has been refused at least once.
  while (retries.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
  server = spawn(natsServerBinary(), ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const nc = await connecting;
  expect(retries.length).toBeGreaterThan(0);
  await nc.flush();
  await nc.close();
});

it('does not retry a refused credential', async () => {
  nats = await startNats({ agents: ['patient-a'] });
  const retries: number[] = [];
  await expect(
    connectNatsPatiently({ url: nats.url, name: 'wrong', user: 'patient-a', password: 'not-the-password' }, { giveUpAfterMs: 20_000, onRetry: (_e, attempt) => retries.push(attempt) }),
  ).rejects.toThrow(/authorization/i);
  expect(retries).toEqual([]);
});
