import { HeartbeatReceipts } from './heartbeat-receipts';

describe('HeartbeatReceipts', () => {
  let clock: number;
  let receipts: HeartbeatReceipts;
  beforeEach(() => {
    clock = 1000;
    receipts = new HeartbeatReceipts(() => clock);
  });

  it('judges nobody until a whole silence threshold has passed since it started', () => {
    expect(receipts.mayJudgeIn(6000)).toBe(6000);
    clock += 5999;
    expect(receipts.mayJudgeIn(6000)).toBe(1);
    clock += 1;
    expect(receipts.mayJudgeIn(6000)).toBe(0);
  });

  it('starts that wait again after each database failure (what it heard meanwhile may not be recorded)', () => {
    clock += 60_000;
    expect(receipts.mayJudgeIn(6000)).toBe(0);
    receipts.databaseFailed();
    expect(receipts.mayJudgeIn(6000)).toBe(6000);
    clock += 20_000;
    receipts.databaseFailed();
    clock += 3000;
    expect(receipts.mayJudgeIn(6000)).toBe(3000);
  });

  it('lists the hosts heard within a window and forgets older receipts', () => {
    receipts.heard('node-a');
    clock += 4000;
    receipts.heard('node-b');
    expect(receipts.heardWithin(6000).sort()).toEqual(['node-a', 'node-b']);
    clock += 2001;
    expect(receipts.heardWithin(6000)).toEqual(['node-b']);
    receipts.heard('node-a');
    expect(receipts.heardWithin(6000).sort()).toEqual(['node-a', 'node-b']);
  });
});
