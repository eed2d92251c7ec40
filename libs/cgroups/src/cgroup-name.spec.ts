import { CgroupError } from './cgroup.exception';
import { parseCgroupName } from './cgroup-name';

describe('parseCgroupName', () => {
  it.each([
    ['vm-1', ['vm-1']],
    ['gureum/vm_2.a', ['gureum', 'vm_2.a']],
    ['0', ['0']],
  ])('accepts %s', (name, segments) => {
    expect(parseCgroupName(name)).toEqual(segments);
  });

  it.each(['', '..', 'a/..', 'a..b', '/abs', 'a/', 'a//b', 'a/b/c', '.hidden', 'a/.b', 'Upper', 'sp ace', 'x'.repeat(65)])(
    'rejects %j',
    (name) => {
      let thrown: unknown;
      try {
        parseCgroupName(name);
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(CgroupError);
      expect(thrown).toMatchObject({ code: 'invalid_name' });
    },
  );
});
