import { waitFor } from './wait-for';

describe('waitFor', () => {
  it('returns the first value that is not undefined or false', async () => {
    let calls = 0;
    const value = await waitFor(async () => (++calls >= 3 ? calls : calls === 1 ? undefined : false), {
      timeoutMs: 1_000,
      intervalMs: 1,
      what: 'the third call',
    });
    expect(value).toBe(3);
  });

  it('treats a throwing probe as not ready, and names what and the last error on timeout', async () => {
    await expect(
      waitFor(
        async () => {
          throw new Error('connection refused');
        },
        { timeoutMs: 50, intervalMs: 5, what: 'the api to answer' },
      ),
    ).rejects.toThrow(/waiting for the api to answer; last error: Error: connection refused/);
  });
});
